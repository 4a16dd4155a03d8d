"""A throwaway local FHIR server for integration tests and benchmarks.

Starts ``sekmet serve`` (sekmet-fhir 0.1.1, a FastAPI + SQLite FHIR R4 server) on 127.0.0.1
and a free port, with a fresh data directory, the simulator off and inbound logging off;
waits for ``/metadata``; stops the process it started. Nothing else is touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

SEKMET = "sekmet"
STARTUP_TIMEOUT = 60.0


class ServerStartError(RuntimeError):
    """The local server did not answer /metadata in time (message carries its stderr tail)."""


def find_sekmet() -> str | None:
    """The ``sekmet`` executable next to the running Python first, then on PATH."""
    beside = Path(sys.executable).parent / SEKMET
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(SEKMET)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def settings_yaml(port: int, data_dir: Path) -> str:
    return (
        f"base_url: http://127.0.0.1:{port}/fhir\n"
        "host: 127.0.0.1\n"
        f"port: {port}\n"
        f"data_dir: {data_dir}\n"
        "simulator: {enabled: false}\n"
        "log_inbound: false\n"
    )


@dataclass
class LocalServer:
    base_url: str
    process: subprocess.Popen[bytes]
    workdir: Path
    startup_seconds: float

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def log_tail(path: Path, lines: int = 40) -> str:
    """The last lines a server wrote to its log (for start-up errors)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log captured)"


def launch(
    name: str, command: list[str], workdir: Path, base_url: str, *, timeout: float, poll: float = 0.2
) -> LocalServer:
    """Run ``command`` (output to ``workdir/server.log``) and return once ``base_url/metadata`` answers 200.

    The process is stopped, and a ServerStartError carries the log tail, when it exits early or does not
    answer within ``timeout`` seconds.
    """
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir
        )
    server = LocalServer(base_url, process, workdir, 0.0)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise ServerStartError(
                f"{name} exited with code {process.returncode} before answering:\n{log_tail(log_path)}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/metadata", timeout=5.0).status_code == 200:
                server.startup_seconds = time.monotonic() - started
                return server
        time.sleep(poll)
    server.stop()
    raise ServerStartError(f"{name} did not answer {base_url}/metadata within {timeout:.0f} s:\n{log_tail(log_path)}")


def start_sekmet(executable: str, workdir: Path, *, timeout: float = STARTUP_TIMEOUT) -> LocalServer:
    """Start sekmet on a free loopback port; return once ``/metadata`` answers 200."""
    port = free_port()
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = workdir / "settings.yaml"
    settings.write_text(settings_yaml(port, data_dir))
    command = [executable, "serve", "-c", str(settings), "--host", "127.0.0.1", "--port", str(port)]
    return launch("sekmet", command, workdir, f"http://127.0.0.1:{port}/fhir", timeout=timeout)


@contextlib.contextmanager
def running_sekmet(executable: str | None = None) -> Iterator[LocalServer]:
    """A started server in a fresh temp dir, stopped and cleaned up afterwards."""
    exe = executable or find_sekmet()
    if exe is None:
        raise ServerStartError("the sekmet executable was not found (pip install sekmet-fhir==0.1.1)")
    with tempfile.TemporaryDirectory(prefix="fhir-adapter-sekmet-") as tmp:
        server = start_sekmet(exe, Path(tmp))
        try:
            yield server
        finally:
            server.stop()
