"""A throwaway HAPI FHIR JPA server (R4, H2 in memory) for integration tests and benchmarks.

The server is our own small Spring Boot application in ``conformance/hapi-server`` (HAPI FHIR 8.8.0
from Maven Central). :func:`build_hapi_server` builds its executable jar with Maven when the jar is
missing or older than the sources; :func:`start_hapi_server` runs ``java -jar`` on 127.0.0.1 and a free
port, waits for ``GET /fhir/metadata`` to answer 200, and returns a :class:`LocalServer` whose
``stop()`` ends exactly that process. Mirrors :mod:`fhir_adapter.fhir.testing` (sekmet).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from fhir_adapter.fhir.testing import LocalServer, ServerStartError, free_port, launch

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "conformance" / "hapi-server"
JAR = PROJECT / "target" / "fhir-adapter-hapi-server.jar"
HAPI_VERSION = "8.8.0"
STARTUP_TIMEOUT = 180.0
BUILD_TIMEOUT = 1800.0
HEAP = "1536m"


class HapiBuildError(ServerStartError):
    """Maven could not build the server jar (message carries Maven's output tail)."""


def find_java() -> str | None:
    """``$JAVA_HOME/bin/java`` when set, else ``java`` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("java")


def find_mvn() -> str | None:
    return shutil.which("mvn")


def _sources(project: Path) -> list[Path]:
    files = [project / "pom.xml"]
    src = project / "src"
    if src.is_dir():
        files.extend(p for p in src.rglob("*") if p.is_file())
    return [f for f in files if f.is_file()]


def jar_is_stale(project: Path = PROJECT, jar: Path = JAR) -> bool:
    """True when the jar is missing or older than ``pom.xml`` or any file under ``src/``."""
    if not jar.is_file():
        return True
    built = jar.stat().st_mtime
    return any(f.stat().st_mtime > built for f in _sources(project))


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def build_hapi_server(
    *, project: Path = PROJECT, mvn: str | None = None, force: bool = False, timeout: float = BUILD_TIMEOUT
) -> Path:
    """The server's executable jar, built with ``mvn -q -B package -DskipTests`` only when needed.

    A lock file in ``target/`` keeps concurrent callers from building at the same time. Raises
    :class:`HapiBuildError` with Maven's output tail when Maven is missing or the build fails.
    """
    jar = project / "target" / JAR.name
    if not force and not jar_is_stale(project, jar):
        return jar
    exe = mvn or find_mvn()
    if exe is None:
        raise HapiBuildError("Maven (mvn) was not found on PATH: cannot build the HAPI test server")
    (project / "target").mkdir(exist_ok=True)
    with (project / "target" / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not force and not jar_is_stale(project, jar):  # another process built it meanwhile
                return jar
            try:
                done = subprocess.run(
                    [exe, "-q", "-B", "package", "-DskipTests"], cwd=project,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, check=False,
                )
            except subprocess.TimeoutExpired as exc:
                output = (exc.stdout or b"").decode(errors="replace")
                raise HapiBuildError(
                    f"mvn package in {project} did not finish within {timeout:.0f} s:\n{_tail(output)}"
                ) from exc
            output = done.stdout.decode(errors="replace")
            if done.returncode != 0 or not jar.is_file():
                raise HapiBuildError(
                    f"mvn -q -B package -DskipTests in {project} failed (exit {done.returncode}):\n{_tail(output)}"
                )
            jar.touch()  # newer than every source even when Maven kept an up-to-date jar
            return jar
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def start_hapi_server(
    jar: Path, workdir: Path, *, java: str | None = None, port: int | None = None,
    heap: str = HEAP, timeout: float = STARTUP_TIMEOUT,
) -> LocalServer:
    """Start the jar on 127.0.0.1 (a free port unless given); return once ``/fhir/metadata`` answers 200.

    The server's stdout and stderr go to ``workdir/server.log``; its tail is in the error when the
    process exits early or does not answer within ``timeout`` seconds (the process is then stopped).
    """
    exe = java or find_java()
    if exe is None:
        raise ServerStartError("java was not found (set JAVA_HOME or put java on PATH)")
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    command = [exe, f"-Xmx{heap}", "-Djava.io.tmpdir=" + str(workdir), "-jar", str(jar),
               "--server.address=127.0.0.1", f"--server.port={port}"]
    return launch("the HAPI server", command, workdir, f"http://127.0.0.1:{port}/fhir", timeout=timeout, poll=0.5)


def stop_hapi_server(server: LocalServer) -> None:
    """SIGTERM the server's process, wait, SIGKILL after a timeout (only the process we started)."""
    server.stop()


@contextlib.contextmanager
def running_hapi_server(*, build: bool = True, java: str | None = None) -> Iterator[LocalServer]:
    """A built and started HAPI server in a fresh temp dir, stopped and cleaned up afterwards."""
    jar = build_hapi_server() if build else JAR
    if not jar.is_file():
        raise ServerStartError(f"the HAPI server jar {jar} does not exist (build it with build_hapi_server())")
    with tempfile.TemporaryDirectory(prefix="fhir-adapter-hapi-") as tmp:
        server = start_hapi_server(jar, Path(tmp), java=java)
        try:
            yield server
        finally:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m fhir_adapter.fhir.hapi_testing [--port N]``: build if needed, start, serve until
    Ctrl-C or SIGTERM, then stop the server (for benchmarks and manual checks)."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="Run the HAPI FHIR JPA test server on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    jar = build_hapi_server()
    built = time.monotonic() - started
    with tempfile.TemporaryDirectory(prefix="fhir-adapter-hapi-") as tmp:
        server = start_hapi_server(jar, Path(tmp), port=args.port)
        print(f"HAPI FHIR {HAPI_VERSION} at {server.base_url} (build check {built:.1f} s, "
              f"start {server.startup_seconds:.1f} s); Ctrl-C stops it", flush=True)

        def on_term(_signum: int, _frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_term)
        try:
            server.process.wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
