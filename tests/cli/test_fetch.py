from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
import respx

from fhir_adapter.cli import main

BASE = "https://registry.test/api/v2"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(args)
        raise SystemExit(0)
    out, err = capsys.readouterr()
    code = caught.value.code
    return (code if isinstance(code, int) else 0), out, err


def _study(nct_id: str) -> dict[str, object]:
    return {"protocolSection": {"identificationModule": {"nctId": nct_id}}}


@respx.mock
def test_fetch_writes_one_file_per_study(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    respx.get(f"{BASE}/studies").respond(json={"studies": [_study("NCT00000002"), _study("NCT00000001")]})
    args = ["fetch", "nct00000001", "NCT00000002", "-o", str(tmp_path / "out"), "--base-url", BASE]
    code, out, err = run(args, capsys)
    assert code == 0, err
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["NCT00000001.json", "NCT00000002.json"]
    saved = json.loads((tmp_path / "out" / "NCT00000001.json").read_text(encoding="utf-8"))
    assert saved == _study("NCT00000001")
    assert str(tmp_path / "out" / "NCT00000002.json") in out


@respx.mock
def test_fetch_not_found_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    respx.get(f"{BASE}/studies/NCT09999999").respond(404)
    code, out, err = run(["fetch", "NCT09999999", "-o", str(tmp_path), "--base-url", BASE], capsys)
    assert code == 3
    assert "NCT09999999" in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in out + err
    assert list(tmp_path.iterdir()) == []


def test_fetch_bad_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["fetch", "12345", "-o", str(tmp_path)], capsys)
    assert code == 2 and "'12345'" in err and "not an NCT id" in err


@respx.mock
def test_fetch_says_each_retry_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr("fhir_adapter.ingest.registry_api.time.sleep", waits.append)
    busy = httpx.Response(503, headers={"Retry-After": "2"})
    route = respx.get(f"{BASE}/studies/NCT00000001").mock(
        side_effect=[busy, httpx.ConnectError("connection refused"), httpx.Response(200, json=_study("NCT00000001"))]
    )
    code, out, err = run(["fetch", "NCT00000001", "-o", str(tmp_path), "--base-url", BASE], capsys)
    assert code == 0 and route.call_count == 3
    assert out == f"wrote {tmp_path / 'NCT00000001.json'}\n"
    first, second = err.splitlines()
    assert first == "retrying in 2 s: HTTP 503 Service Unavailable (attempt 2 of 5)"
    assert re.fullmatch(r"retrying in [0-9.]+ s: ConnectError: connection refused \(attempt 3 of 5\)", second), second
    assert waits[0] == 2.0 and len(waits) == 2


@respx.mock
def test_fetch_quiet_retries_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fhir_adapter.ingest.registry_api.time.sleep", lambda seconds: None)
    respx.get(f"{BASE}/studies/NCT00000001").mock(
        side_effect=[httpx.Response(429), httpx.Response(200, json=_study("NCT00000001"))]
    )
    code, _out, err = run(["fetch", "NCT00000001", "-o", str(tmp_path), "--base-url", BASE, "--quiet"], capsys)
    assert (code, err) == (0, "")
