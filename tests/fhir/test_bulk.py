"""Bulk Data export client against respx: the pure decisions, then whole exports (kick-off, polls, files).

Nothing really waits: the export's sleep and clock are a fake that advances time by what is slept.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fhir_fakes import BASE
from joserfc.jwk import RSAKey

from fhir_adapter.errors import AuthError, FhirServerError, UsageError
from fhir_adapter.fhir import AsyncFhirClient, BearerAuth, SmartBackendAuth
from fhir_adapter.fhir.bulk import (
    BulkSettings,
    ExportGone,
    ExportRequest,
    ExportResult,
    ExportStalled,
    Manifest,
    ManifestFile,
    encode_type_filter,
    local_names,
    parse_manifest,
    parse_origins,
    plan_files,
    poll_delay,
    resume_plan,
    run_export,
    token_allowed,
    transient_outcome,
    type_filter_unsupported,
)
from fhir_adapter.fhir.bulk_download import (
    STATE_FILE,
    ExportState,
    FileState,
    _LineCounter,
    load_state,
    save_state,
    summarize_error_files,
)
from fhir_adapter.fhir.capabilities import Capabilities
from fhir_adapter.http import RetryPolicy
from tests.cli import run_cli

STATUS = f"{BASE}/bulk-status/job-1"
FILES = f"{BASE}/bulk-files/job-1"
FOREIGN = "https://files.elsewhere.test"
TOKEN = "s3cr3t-token-value"
TOKEN_URL = "http://fhir.test/auth/token"
SERVER_ORIGIN = ("http", "fhir.test", 80)
JSON_HEADERS = {"Content-Type": "application/json"}

PATIENTS = [{"resourceType": "Patient", "id": f"p{i}", "gender": "female"} for i in range(1, 4)]
OBSERVATIONS = [
    {"resourceType": "Observation", "id": f"o{i}", "status": "final", "code": {"text": "HbA1c"},
     "subject": {"reference": f"Patient/p{i % 3 + 1}"}} for i in range(1, 6)
]


def ndjson(resources: Sequence[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in resources)


def outcome(*issues: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


class FakeTime:
    """``sleep`` records the delays and advances ``clock`` by them: no test really waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def settings(fake: FakeTime, **kwargs: Any) -> BulkSettings:
    retry = RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=5.0, jitter=False)
    return BulkSettings(sleep=fake.sleep, clock=fake.clock, download_retry=retry, **kwargs)


def manifest(
    output: Sequence[tuple[str, str]], *, errors: Sequence[str] = (), requires: bool = True,
    counts: dict[str, int] | None = None,
) -> dict[str, Any]:
    counts = counts or {}
    return {
        "transactionTime": "2024-05-01T10:00:00.000Z",
        "request": f"{BASE}/$export?_type=Patient,Observation",
        "requiresAccessToken": requires,
        "output": [{"type": t, "url": u, **({"count": counts[u]} if u in counts else {})} for t, u in output],
        "error": [{"type": "OperationOutcome", "url": u} for u in errors],
    }


def kickoff_accepted() -> httpx.Response:
    return httpx.Response(202, headers={"Content-Location": STATUS})


def done(body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=body, headers=JSON_HEADERS)


def export(
    fake: FakeTime, out_dir: Path, *, auth: httpx.Auth | None = None, progress: list[str] | None = None,
    **kwargs: Any,
) -> ExportResult:
    async def go() -> ExportResult:
        async with AsyncFhirClient(BASE, auth=auth, sleep=fake.sleep) as client:
            return await run_export(
                client, out_dir=out_dir, progress=progress.append if progress is not None else None,
                settings=kwargs.pop("settings", None) or settings(fake), **kwargs,
            )

    return asyncio.run(go())


def state_text(out_dir: Path) -> str:
    return (out_dir / STATE_FILE).read_text()


# -- pure decisions -------------------------------------------------------------------------------------------


def test_request_paths_and_parameters() -> None:
    system = ExportRequest("system", types=("Patient", "Observation"), since="2024-01-31T00:00:00Z",
                           type_filters=("Observation?code=http://loinc.org|4548-4,http://loinc.org|17856-6",))
    assert system.path == "$export"
    assert system.params() == (
        ("_outputFormat", "application/fhir+ndjson"),
        ("_type", "Patient,Observation"),
        ("_since", "2024-01-31T00:00:00Z"),
        ("_typeFilter", "Observation?code=http://loinc.org|4548-4%2Chttp://loinc.org|17856-6"),
    )
    assert [k for k, _ in system.params(with_type_filters=False)] == ["_outputFormat", "_type", "_since"]
    assert ExportRequest("patient").path == "Patient/$export"
    assert ExportRequest("group", group_id="trial-42").path == "Group/trial-42/$export"


def test_type_filter_commas_escaped_once_more() -> None:
    encoded = encode_type_filter("Condition?code=a,b&clinical-status=active")
    assert encoded == "Condition?code=a%2Cb&clinical-status=active"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"level": "group"}, "group id"),
    ({"level": "system", "group_id": "g1"}, "group id"),
    ({"level": "group", "group_id": "../x"}, "not a FHIR id"),
    ({"types": ("patient",)}, "not a resource type"),
    ({"types": ("Patient",), "type_filters": ("Observation?code=1",)}, "not among the exported types"),
    ({"type_filters": ("code=1234",)}, r"expected Type\?search"),
    ({"since": "2024-01-31"}, "FHIR instant"),
])
def test_request_checks(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ExportRequest(**kwargs)


def test_poll_delay_honours_retry_after_and_caps() -> None:
    assert poll_delay("7", 0, base=1.0, cap=30.0) == 7.0
    assert poll_delay("120", 0, base=1.0, cap=30.0) == 30.0  # HAPI asks for 120 s
    assert poll_delay("Wed, 01 May 2024 10:00:05 GMT", 0, base=1.0, cap=30.0, now=1714557600.0) == 5.0
    assert poll_delay("Wed, 01 May 2024 09:00:00 GMT", 0, base=1.0, cap=30.0, now=1714557600.0) == 0.0
    assert [poll_delay(None, n, base=1.0, cap=3.0) for n in range(5)] == [1.0, 1.5, 2.25, 3.0, 3.0]
    assert poll_delay("soon", 1, base=2.0, cap=30.0) == 3.0  # unreadable: the backoff


def test_manifest_parsed_and_hostile_entries_refused() -> None:
    parsed = parse_manifest(manifest([("Patient", "files/Patient-1.ndjson")], counts={}), STATUS)
    assert parsed.output == (ManifestFile("Patient", f"{BASE}/bulk-status/files/Patient-1.ndjson"),)
    assert parsed.requires_access_token and parsed.transaction_time == "2024-05-01T10:00:00.000Z"
    for bad, message in [
        ({"output": [{"type": "../../etc/passwd", "url": f"{FILES}/x"}]}, "is not a resource type"),
        ({"output": [{"type": "Patient", "url": "file:///etc/passwd"}]}, "not an http"),
        ({"output": [{"type": "Patient", "url": "https://user:pw@files.test/x"}]}, "carries credentials"),
        ({"output": {"type": "Patient"}}, "is not a list"),
        ({"output": [], "requiresAccessToken": "yes"}, "requiresAccessToken"),
    ]:
        with pytest.raises(FhirServerError, match=message) as err:
            parse_manifest(bad, STATUS)
        assert "pw@" not in str(err.value)
    assert parse_manifest({"output": []}, STATUS).requires_access_token  # missing: a token is assumed needed


def test_local_names_follow_the_bulk_convention() -> None:
    files = [ManifestFile("Observation", "u1"), ManifestFile("Patient", "u2"), ManifestFile("Observation", "u3"),
             ManifestFile("Observation", "u4")]
    assert local_names(files) == ["Observation.ndjson", "Patient.ndjson", "Observation.002.ndjson",
                                  "Observation.003.ndjson"]
    planned = plan_files(Manifest("t", "r", True, tuple(files[:1]), (ManifestFile("OperationOutcome", "e1"),), {}))
    assert [(f.name, f.kind) for f in planned] == [("Observation.ndjson", "output"),
                                                  ("errors/OperationOutcome.ndjson", "error")]


def test_token_goes_only_to_trusted_origins() -> None:
    allowed = parse_origins([FOREIGN])
    assert not token_allowed(f"{FOREIGN}/f.ndjson?sig=1", requires_access_token=False, server=SERVER_ORIGIN,
                             allowed=frozenset())
    assert token_allowed(f"{FILES}/a.ndjson", requires_access_token=True, server=SERVER_ORIGIN, allowed=frozenset())
    assert token_allowed(f"{FOREIGN}:443/a.ndjson", requires_access_token=True, server=SERVER_ORIGIN,
                         allowed=allowed)
    with pytest.raises(FhirServerError, match=r"files on https://files\.elsewhere\.test and requires") as err:
        token_allowed(f"{FOREIGN}/a.ndjson?X-Amz-Signature=abc", requires_access_token=True, server=SERVER_ORIGIN,
                      allowed=frozenset())
    assert "--bulk-file-origin https://files.elsewhere.test" in str(err.value)
    assert "X-Amz-Signature" not in str(err.value)
    with pytest.raises(FhirServerError):  # another port is another origin
        token_allowed("http://fhir.test:8080/a", requires_access_token=True, server=SERVER_ORIGIN,
                      allowed=frozenset())


@pytest.mark.parametrize("value", ["files.test", "https://files.test/path", "https://u:p@files.test", "ftp://f.test"])
def test_file_origins_must_be_origins(value: str) -> None:
    with pytest.raises(UsageError, match="bulk-file-origin"):
        parse_origins([value])


def test_type_filter_rejection_recognised() -> None:
    unsupported = outcome({"severity": "error", "code": "not-supported", "diagnostics": "parameter not supported"})
    named = outcome({"severity": "error", "code": "invalid", "diagnostics": "Unknown parameter _typeFilter"})
    other = outcome({"severity": "error", "code": "invalid", "diagnostics": "bad _since"})
    assert type_filter_unsupported(400, unsupported) and type_filter_unsupported(422, named)
    assert type_filter_unsupported(501, unsupported)
    assert not type_filter_unsupported(400, other)
    assert not type_filter_unsupported(401, named) and not type_filter_unsupported(404, unsupported)
    assert not type_filter_unsupported(400, None)


def test_transient_outcome() -> None:
    assert transient_outcome(outcome({"severity": "error", "code": "transient"}))
    assert not transient_outcome(outcome({"severity": "error", "code": "exception"}))
    assert not transient_outcome(None)


def test_resume_plan() -> None:
    request = ExportRequest("system", types=("Patient",)).to_json()
    state = ExportState(BASE, request, status_url=STATUS)
    never: Any = lambda _f: False  # noqa: E731
    assert resume_plan(None, server=BASE, request=request, restart=False, finished=never)[0] == "fresh"
    assert resume_plan(state, server=BASE, request=request, restart=False, finished=never)[0] == "poll"
    assert resume_plan(state, server=BASE, request=request, restart=True, finished=never)[0] == "fresh"
    state.manifest, state.files = {"output": []}, [FileState("u", "Patient.ndjson", "Patient")]
    assert resume_plan(state, server=BASE, request=request, restart=False, finished=never)[0] == "download"
    assert resume_plan(state, server=BASE, request=request, restart=False, finished=lambda _f: True)[0] == "complete"
    state.status = "cancelled"
    assert resume_plan(state, server=BASE, request=request, restart=False, finished=never)[0] == "fresh"
    with pytest.raises(UsageError, match="holds another export"):
        resume_plan(state, server=BASE, request={**request, "types": ["Condition"]}, restart=False, finished=never)


def test_line_counter_across_chunks() -> None:
    counter = _LineCounter()
    for chunk in (b'{"a":1}\n{"b"', b':2}\n\n', b"\n", b'{"c":3}'):
        counter.feed(chunk)
    assert counter.close() == 3


def test_capabilities_cannot_declare_export_parameters() -> None:
    """Why the kick-off answer decides about _typeFilter: the CapabilityStatement only names the operation."""
    caps = Capabilities.from_statement({"resourceType": "CapabilityStatement", "rest": [{"mode": "server",
        "operation": [{"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}]}]})
    assert caps.has_operation("export") and not hasattr(caps, "operation_parameters")


# -- whole exports --------------------------------------------------------------------------------------------


def test_happy_path_polls_then_downloads_three_files(
    mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path
) -> None:
    kickoff = mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    files = {
        f"{FILES}/Patient-1.ndjson": httpx.Response(200, content=ndjson(PATIENTS)),
        f"{FILES}/Observation-1.ndjson": httpx.Response(200, content=ndjson(OBSERVATIONS[:2])),
        f"{FILES}/Observation-2.ndjson": httpx.Response(
            200, content=gzip.compress(ndjson(OBSERVATIONS[2:])),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/fhir+ndjson"},
        ),
    }
    order = [("Observation", f"{FILES}/Observation-1.ndjson"), ("Patient", f"{FILES}/Patient-1.ndjson"),
             ("Observation", f"{FILES}/Observation-2.ndjson")]
    status = mock.get(STATUS).mock(side_effect=[
        httpx.Response(202, headers={"Retry-After": "2", "X-Progress": "10% (Patient)"}),
        httpx.Response(202, headers={"Retry-After": "3", "X-Progress": "60% (Observation)"}),
        done(manifest(order, counts={f"{FILES}/Patient-1.ndjson": 3})),
    ])
    routes = {url: mock.get(url).mock(return_value=reply) for url, reply in files.items()}
    progress: list[str] = []
    result = export(fake_time, tmp_path, auth=BearerAuth(TOKEN), progress=progress,
                    types=["Patient", "Observation"], since="2024-01-01T00:00:00Z")

    sent = kickoff.calls[0].request
    assert sent.headers["Accept"] == "application/fhir+json" and sent.headers["Prefer"] == "respond-async"
    assert dict(sent.url.params) == {"_outputFormat": "application/fhir+ndjson", "_type": "Patient,Observation",
                                     "_since": "2024-01-01T00:00:00Z"}
    assert status.call_count == 3 and fake_time.slept == [2.0, 3.0]
    assert "10% (Patient)" in progress and "60% (Observation)" in progress
    for route in routes.values():
        request = route.calls[0].request
        assert request.headers["Accept"] == "application/fhir+ndjson"
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"  # same origin, token required
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["Observation.002.ndjson", "Observation.ndjson", "Patient.ndjson", STATE_FILE]
    assert (tmp_path / "Observation.ndjson").read_bytes() == ndjson(OBSERVATIONS[:2])
    assert (tmp_path / "Observation.002.ndjson").read_bytes() == ndjson(OBSERVATIONS[2:])  # gzip decoded
    assert (tmp_path / "Patient.ndjson").read_bytes() == ndjson(PATIENTS)
    assert [(f.type, f.path.name, f.resources) for f in result.files] == [
        ("Observation", "Observation.ndjson", 2), ("Patient", "Patient.ndjson", 3),
        ("Observation", "Observation.002.ndjson", 3)]
    assert result.resources == 8 and result.bytes == sum(p.stat().st_size for p in tmp_path.glob("*.ndjson"))
    assert result.paths("Observation") == [tmp_path / "Observation.ndjson", tmp_path / "Observation.002.ndjson"]
    assert not result.resumed and result.type_filter_applied and not result.type_filters_requested
    assert result.transaction_time == "2024-05-01T10:00:00.000Z" and result.errors.issues == 0
    state = load_state(tmp_path)
    assert state is not None and state.status == "complete" and all(f.done for f in state.files)
    assert (tmp_path / STATE_FILE).stat().st_mode & 0o077 == 0
    assert TOKEN not in state_text(tmp_path) and "Authorization" not in state_text(tmp_path)
    assert not any(TOKEN in line for line in progress)


def test_type_filter_rejected_then_retried_without(
    mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path
) -> None:
    kickoff = mock.get(f"{BASE}/Patient/$export").mock(side_effect=[
        httpx.Response(400, json=outcome({"severity": "error", "code": "not-supported",
                                          "diagnostics": "_typeFilter is not supported"})),
        kickoff_accepted(),
    ])
    mock.get(STATUS).mock(return_value=done(manifest([("Observation", f"{FILES}/Observation-1.ndjson")])))
    mock.get(f"{FILES}/Observation-1.ndjson").mock(return_value=httpx.Response(200, content=ndjson(OBSERVATIONS)))
    progress: list[str] = []
    result = export(fake_time, tmp_path, progress=progress, level="patient", types=["Observation"],
                    type_filters=["Observation?code=4548-4"])
    first, second = (c.request.url.params for c in kickoff.calls)
    assert first.get_list("_typeFilter") == ["Observation?code=4548-4"]
    assert "_typeFilter" not in second and second["_type"] == "Observation"
    assert result.type_filters_requested and not result.type_filter_applied
    assert any("refused _typeFilter" in line and "filter the files locally" in line for line in progress)
    assert result.files[0].resources == len(OBSERVATIONS)


def test_type_filter_ignored_by_a_lenient_server_is_not_applied(
    mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path
) -> None:
    mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    mock.get(STATUS).mock(return_value=done(manifest([("Observation", f"{FILES}/o.ndjson")],
                                                     errors=[f"{FILES}/errors.ndjson"])))
    mock.get(f"{FILES}/o.ndjson").mock(return_value=httpx.Response(200, content=ndjson(OBSERVATIONS)))
    warning = outcome({"severity": "warning", "code": "not-supported", "diagnostics": "Ignored parameter _typeFilter"})
    mock.get(f"{FILES}/errors.ndjson").mock(return_value=httpx.Response(200, content=ndjson([warning])))
    result = export(fake_time, tmp_path, types=["Observation"], type_filters=["Observation?status=final"])
    assert not result.type_filter_applied and result.errors.issues == 1


def test_stalled_job_cancelled_at_the_deadline(mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path) -> None:
    mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    polls = mock.get(STATUS).mock(return_value=httpx.Response(202, headers={"Retry-After": "5", "X-Progress": "0%"}))
    delete = mock.delete(STATUS).mock(return_value=httpx.Response(202))
    with pytest.raises(ExportStalled) as err:
        export(fake_time, tmp_path, poll_deadline=12)
    assert err.value.one_line() == (
        f"GET {STATUS}: the export did not complete within 12 s (last status 202: 0%); the job was cancelled"
    )
    assert err.value.exit_code == 5
    assert fake_time.slept == [5.0, 5.0] and polls.call_count == 3 and delete.call_count == 1
    state = load_state(tmp_path)
    assert state is not None and state.status == "cancelled"


def test_429_and_503_on_status_wait_and_retry(mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path) -> None:
    mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    mock.get(STATUS).mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(503, json=outcome({"severity": "error", "code": "transient"}), headers={"Retry-After": "4"}),
        httpx.Response(500, json=outcome({"severity": "error", "code": "transient", "diagnostics": "busy"})),
        done(manifest([("Patient", f"{FILES}/p.ndjson")])),
    ])
    mock.get(f"{FILES}/p.ndjson").mock(return_value=httpx.Response(200, content=ndjson(PATIENTS)))
    progress: list[str] = []
    result = export(fake_time, tmp_path, progress=progress)
    assert fake_time.slept == [7.0, 4.0, 2.25]  # Retry-After twice, then the backoff (third attempt)
    assert "server busy (429), waiting" in progress
    assert result.files[0].resources == 3


def test_failed_job_reports_the_outcome(mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path) -> None:
    mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    mock.get(STATUS).mock(return_value=httpx.Response(500, json=outcome(
        {"severity": "error", "code": "processing", "diagnostics": "Failed to parse match URL"})))
    with pytest.raises(FhirServerError, match=r"→ 500: error processing: Failed to parse match URL"):
        export(fake_time, tmp_path)


def test_kickoff_errors_are_one_clear_line(mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path) -> None:
    mock.get(f"{BASE}/$export").mock(side_effect=[
        httpx.Response(404, json=outcome({"severity": "error", "code": "not-found", "diagnostics": "Unknown op"})),
        httpx.Response(200, json={"resourceType": "Bundle"}),
        httpx.Response(202),
    ])
    with pytest.raises(FhirServerError, match=r"GET \$export → 404: error not-found: Unknown op"):
        export(fake_time, tmp_path)
    with pytest.raises(FhirServerError, match="answered 200 to the kick-off, expected 202"):
        export(fake_time, tmp_path)
    with pytest.raises(FhirServerError, match="without Content-Location"):
        export(fake_time, tmp_path)


def test_status_url_on_a_foreign_origin_refused(mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path) -> None:
    mock.get(f"{BASE}/$export").mock(return_value=httpx.Response(202, headers={"Content-Location": f"{FOREIGN}/s"}))
    foreign = mock.get(f"{FOREIGN}/s")
    with pytest.raises(FhirServerError, match="refusing to send the credentials there"):
        export(fake_time, tmp_path, auth=BearerAuth(TOKEN))
    assert foreign.call_count == 0


@pytest.fixture(scope="module")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "bulk-1"}, private=True)


def test_expired_token_mid_download_refreshed_once(
    mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path, rsa_key: RSAKey
) -> None:
    token = mock.post(TOKEN_URL).mock(side_effect=[
        httpx.Response(200, json={"access_token": "tok-1", "expires_in": 3600}),
        httpx.Response(200, json={"access_token": "tok-2", "expires_in": 3600}),
    ])
    mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    mock.get(STATUS).mock(return_value=done(manifest([("Patient", f"{FILES}/p.ndjson")])))
    file = mock.get(f"{FILES}/p.ndjson").mock(side_effect=[
        httpx.Response(401, json=outcome({"severity": "error", "code": "login", "diagnostics": "token expired"})),
        httpx.Response(200, content=ndjson(PATIENTS)),
    ])
    auth = SmartBackendAuth(client_id="bulk-app", key=rsa_key, key_id="bulk-1", token_url=TOKEN_URL)
    result = export(fake_time, tmp_path, auth=auth)
    assert token.call_count == 2
    assert [c.request.headers["Authorization"] for c in file.calls] == ["Bearer tok-1", "Bearer tok-2"]
    assert (tmp_path / "Patient.ndjson").read_bytes() == ndjson(PATIENTS) and result.files[0].resources == 3
    assert "tok-" not in state_text(tmp_path)


def test_token_refused_twice_is_an_auth_error(
    mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path, rsa_key: RSAKey
) -> None:
    mock.post(TOKEN_URL).mock(return_value=httpx.Response(200, json={"access_token": "tok-x", "expires_in": 3600}))
    mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    mock.get(STATUS).mock(return_value=done(manifest([("Patient", f"{FILES}/p.ndjson")])))
    file = mock.get(f"{FILES}/p.ndjson").mock(return_value=httpx.Response(401))
    auth = SmartBackendAuth(client_id="bulk-app", key=rsa_key, key_id="bulk-1", token_url=TOKEN_URL)
    with pytest.raises(AuthError, match="refused a freshly issued SMART access token") as err:
        export(fake_time, tmp_path, auth=auth)
    assert file.call_count == 2 and err.value.exit_code == 6


def test_static_bearer_token_refused_on_a_file(mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path) -> None:
    mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    mock.get(STATUS).mock(return_value=done(manifest([("Patient", f"{FILES}/p.ndjson")])))
    file = mock.get(f"{FILES}/p.ndjson").mock(return_value=httpx.Response(401))
    with pytest.raises(AuthError, match="refused the bearer token") as err:
        export(fake_time, tmp_path, auth=BearerAuth(TOKEN))
    assert file.call_count == 1 and TOKEN not in str(err.value)


def test_foreign_file_origin_with_token_required_is_refused(
    mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path
) -> None:
    mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    mock.get(STATUS).mock(return_value=done(manifest(
        [("Patient", f"{FILES}/p.ndjson"), ("Observation", f"{FOREIGN}/o.ndjson?X-Amz-Signature=sig")])))
    own = mock.get(f"{FILES}/p.ndjson").mock(return_value=httpx.Response(200, content=ndjson(PATIENTS)))
    foreign = mock.get(f"{FOREIGN}/o.ndjson").mock(return_value=httpx.Response(200, content=b""))
    with pytest.raises(FhirServerError, match=r"https://files\.elsewhere\.test") as err:
        export(fake_time, tmp_path, auth=BearerAuth(TOKEN))
    assert foreign.call_count == 0 and own.call_count == 0  # refused before any file request
    assert "X-Amz-Signature" not in err.value.one_line() and TOKEN not in err.value.one_line()


def test_allowed_foreign_origin_gets_the_token(mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path) -> None:
    mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    mock.get(STATUS).mock(return_value=done(manifest([("Observation", f"{FOREIGN}/o.ndjson")])))
    foreign = mock.get(f"{FOREIGN}/o.ndjson").mock(return_value=httpx.Response(200, content=ndjson(OBSERVATIONS)))
    export(fake_time, tmp_path, auth=BearerAuth(TOKEN), allowed_file_origins=[FOREIGN])
    assert foreign.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_no_token_sent_when_the_manifest_needs_none(
    mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path
) -> None:
    kickoff = mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    mock.get(STATUS).mock(return_value=done(manifest(
        [("Patient", f"{FILES}/p.ndjson"), ("Observation", f"{FOREIGN}/o.ndjson?X-Amz-Signature=sig")],
        requires=False)))
    own = mock.get(f"{FILES}/p.ndjson").mock(return_value=httpx.Response(200, content=ndjson(PATIENTS)))
    foreign = mock.get(f"{FOREIGN}/o.ndjson").mock(return_value=httpx.Response(200, content=ndjson(OBSERVATIONS)))
    result = export(fake_time, tmp_path, auth=BearerAuth(TOKEN))
    assert kickoff.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    for route in (own, foreign):
        assert "Authorization" not in route.calls[0].request.headers
    assert foreign.calls[0].request.url.params["X-Amz-Signature"] == "sig"
    assert result.resources == 8


def test_401_on_a_presigned_file_is_explained(mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path) -> None:
    mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    mock.get(STATUS).mock(return_value=done(manifest([("Patient", f"{FOREIGN}/p.ndjson?sig=abc")], requires=False)))
    mock.get(f"{FOREIGN}/p.ndjson").mock(return_value=httpx.Response(401))
    with pytest.raises(AuthError, match="requiresAccessToken false") as err:
        export(fake_time, tmp_path)
    assert "sig=abc" not in err.value.one_line()


def test_transient_file_failures_retried(mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path) -> None:
    mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    mock.get(STATUS).mock(return_value=done(manifest([("Patient", f"{FILES}/p.ndjson")])))
    file = mock.get(f"{FILES}/p.ndjson").mock(side_effect=[
        httpx.Response(503, headers={"Retry-After": "3"}), httpx.ConnectError("reset"),
        httpx.Response(200, content=ndjson(PATIENTS)),
    ])
    result = export(fake_time, tmp_path)
    assert file.call_count == 3 and fake_time.slept == [3.0, 0.5]
    assert result.files[0].resources == 3 and not list(tmp_path.glob(".*.part"))


def test_one_failed_file_leaves_the_others_done_and_resumable(
    mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path
) -> None:
    mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    mock.get(STATUS).mock(return_value=done(manifest(
        [("Patient", f"{FILES}/p.ndjson"), ("Observation", f"{FILES}/o.ndjson?sig=secret-signature")])))
    mock.get(f"{FILES}/p.ndjson").mock(return_value=httpx.Response(200, content=ndjson(PATIENTS)))
    broken = mock.get(f"{FILES}/o.ndjson").mock(return_value=httpx.Response(500, json=outcome(
        {"severity": "error", "code": "exception", "diagnostics": "disk on fire"})))
    with pytest.raises(FhirServerError) as err:
        export(fake_time, tmp_path)
    assert err.value.one_line() == f"GET {FILES}/o.ndjson → 500: error exception: disk on fire"
    state = load_state(tmp_path)
    assert state is not None and [f.done for f in state.files] == [True, False]

    broken.mock(return_value=httpx.Response(200, content=ndjson(OBSERVATIONS)))
    again = export(fake_time, tmp_path)
    assert again.resumed and again.downloaded == ("Observation.ndjson",) and again.resources == 8


def test_a_wait_past_the_runs_deadline_stops_the_download_resumably(
    mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path
) -> None:
    """``--deadline`` bounds the file downloads too: a retry wait that would outlast it ends the run at once with one
    line, and the files already downloaded stay done for the rerun."""
    import time

    from fhir_adapter.fhir._core import DeadlineError

    mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    files = [("Patient", f"{FILES}/p.ndjson"), ("Observation", f"{FILES}/o.ndjson")]
    mock.get(STATUS).mock(return_value=done(manifest(files)))
    mock.get(f"{FILES}/p.ndjson").mock(return_value=httpx.Response(200, content=ndjson(PATIENTS)))
    mock.get(f"{FILES}/o.ndjson").mock(return_value=httpx.Response(503, headers={"Retry-After": "30"}))
    # the run's deadline is the client's (as --deadline sets it); the download policy has none of its own
    run = RetryPolicy(max_attempts=1, jitter=False, deadline_at=time.monotonic() + 10, deadline_seconds=10)
    downloads = RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=60.0, jitter=False)
    bulk = BulkSettings(sleep=fake_time.sleep, clock=fake_time.clock, download_retry=downloads)

    async def go() -> ExportResult:
        async with AsyncFhirClient(BASE, sleep=fake_time.sleep, retry=run) as client:
            return await run_export(client, out_dir=tmp_path, settings=bulk)

    with pytest.raises(DeadlineError) as err:
        asyncio.run(go())
    assert err.value.one_line() == (
        f"GET {FILES}/o.ndjson: the run's deadline of 10 s (--deadline) was reached; rerun the same command to resume"
    )
    assert 30.0 not in fake_time.slept
    state = load_state(tmp_path)
    assert state is not None and [f.done for f in state.files] == [True, False]


def test_resume_downloads_only_unfinished_files(mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path) -> None:
    request = ExportRequest("system", types=("Patient", "Observation"))
    body = manifest([("Patient", f"{FILES}/p.ndjson"), ("Observation", f"{FILES}/o.ndjson")])
    (tmp_path / "Patient.ndjson").write_bytes(ndjson(PATIENTS))
    files = plan_files(parse_manifest(body, STATUS))
    files[0].done, files[0].bytes, files[0].resources = True, len(ndjson(PATIENTS)), 3
    save_state(tmp_path, ExportState(BASE, request.to_json(), STATUS, "downloading", False, body, files))
    kickoff = mock.get(f"{BASE}/$export")
    status = mock.get(STATUS)
    patients = mock.get(f"{FILES}/p.ndjson")
    observations = mock.get(f"{FILES}/o.ndjson").mock(return_value=httpx.Response(200, content=ndjson(OBSERVATIONS)))
    progress: list[str] = []
    result = export(fake_time, tmp_path, progress=progress, types=["Patient", "Observation"])
    assert kickoff.call_count == status.call_count == patients.call_count == 0 and observations.call_count == 1
    assert result.resumed and result.downloaded == ("Observation.ndjson",)
    assert [(f.path.name, f.resources) for f in result.files] == [("Patient.ndjson", 3), ("Observation.ndjson", 5)]
    assert "resuming: 1 of 2 file(s) left to download" in progress

    again = export(fake_time, tmp_path, progress=progress, types=["Patient", "Observation"])  # all done: nothing
    assert again.resumed and again.downloaded == () and observations.call_count == 1 and again.resources == 8

    (tmp_path / "Patient.ndjson").unlink()  # a finished file that vanished is fetched again
    patients.mock(return_value=httpx.Response(200, content=ndjson(PATIENTS)))
    third = export(fake_time, tmp_path, types=["Patient", "Observation"])
    assert third.downloaded == ("Patient.ndjson",) and patients.call_count == 1


def test_resume_polls_the_existing_job(mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path) -> None:
    save_state(tmp_path, ExportState(BASE, ExportRequest().to_json(), STATUS))
    kickoff = mock.get(f"{BASE}/$export")
    mock.get(STATUS).mock(return_value=done(manifest([("Patient", f"{FILES}/p.ndjson")])))
    mock.get(f"{FILES}/p.ndjson").mock(return_value=httpx.Response(200, content=ndjson(PATIENTS)))
    result = export(fake_time, tmp_path)
    assert kickoff.call_count == 0 and result.resumed and result.resources == 3


def test_expired_job_on_resume_says_restart(mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path) -> None:
    save_state(tmp_path, ExportState(BASE, ExportRequest().to_json(), STATUS))
    mock.get(STATUS).mock(return_value=httpx.Response(410))
    kickoff = mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    with pytest.raises(ExportGone, match=r"→ 410: the export job is gone .*rerun with --restart"):
        export(fake_time, tmp_path)
    assert kickoff.call_count == 0
    mock.get(STATUS).mock(side_effect=[done(manifest([("Patient", f"{FILES}/p.ndjson")]))])
    mock.get(f"{FILES}/p.ndjson").mock(return_value=httpx.Response(200, content=ndjson(PATIENTS)))
    delete = mock.delete(STATUS).mock(return_value=httpx.Response(404))
    result = export(fake_time, tmp_path, restart=True)
    assert kickoff.call_count == 1 and not result.resumed and result.resources == 3
    assert delete.call_count == 1  # --restart frees the old job (best effort: its 404 is no error)


def test_another_export_in_the_directory_is_refused(tmp_path: Path, fake_time: FakeTime) -> None:
    save_state(tmp_path, ExportState("http://other.test/fhir", ExportRequest().to_json(), STATUS))
    with pytest.raises(UsageError, match="holds another export"):
        export(fake_time, tmp_path)
    (tmp_path / STATE_FILE).unlink()
    (tmp_path / "Patient.ndjson").write_text("{}\n")
    with pytest.raises(UsageError, match="not from an export here"):
        export(fake_time, tmp_path)
    (tmp_path / STATE_FILE).write_text("{not json")
    with pytest.raises(UsageError, match="cannot read the export state"):
        export(fake_time, tmp_path)


def test_cancel_while_polling_sends_delete(mock: respx.MockRouter, tmp_path: Path) -> None:
    mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    mock.get(STATUS).mock(return_value=httpx.Response(202, headers={"Retry-After": "1"}))
    delete = mock.delete(STATUS).mock(return_value=httpx.Response(202))

    class Interrupting(FakeTime):
        async def sleep(self, seconds: float) -> None:
            raise asyncio.CancelledError  # what Ctrl-C under asyncio.run delivers to the waiting task

    with pytest.raises(asyncio.CancelledError):
        export(Interrupting(), tmp_path)
    assert delete.call_count == 1
    state = load_state(tmp_path)
    assert state is not None and state.status == "cancelled"


def test_cancel_while_downloading_sends_delete_and_next_run_starts_afresh(
    mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path
) -> None:
    kickoff = mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    mock.get(STATUS).mock(return_value=done(manifest([("Patient", f"{FILES}/p.ndjson")])))

    def interrupt(_request: httpx.Request) -> httpx.Response:
        raise KeyboardInterrupt  # Ctrl-C while a file streams

    file = mock.get(f"{FILES}/p.ndjson").mock(side_effect=interrupt)
    delete = mock.delete(STATUS).mock(return_value=httpx.Response(202))
    with pytest.raises(KeyboardInterrupt):
        export(fake_time, tmp_path)
    assert delete.call_count == 1
    state = load_state(tmp_path)
    assert state is not None and state.status == "cancelled"

    file.mock(return_value=httpx.Response(200, content=ndjson(PATIENTS)))
    progress: list[str] = []
    result = export(fake_time, tmp_path, progress=progress)
    assert kickoff.call_count == 2 and not result.resumed
    assert "the previous export was cancelled: starting a new one" in progress


def test_error_files_reported_not_dropped(mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path) -> None:
    mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    mock.get(STATUS).mock(return_value=done(manifest([("Patient", f"{FILES}/p.ndjson")],
                                                     errors=[f"{FILES}/err-1.ndjson", f"{FILES}/err-2.ndjson"])))
    mock.get(f"{FILES}/p.ndjson").mock(return_value=httpx.Response(200, content=ndjson(PATIENTS)))
    mock.get(f"{FILES}/err-1.ndjson").mock(return_value=httpx.Response(200, content=ndjson([
        outcome({"severity": "error", "code": "processing", "diagnostics": "Patient/p9 could not be read"},
                {"severity": "warning", "code": "informational", "diagnostics": "second"}),
    ])))
    mock.get(f"{FILES}/err-2.ndjson").mock(return_value=httpx.Response(200, content=ndjson([
        outcome({"severity": "error", "code": "exception", "diagnostics": "third"})]) + b"not json\n"))
    result = export(fake_time, tmp_path)
    assert (result.errors.files, result.errors.outcomes, result.errors.issues) == (2, 2, 4)
    assert result.errors.first_message == "error processing: Patient/*** could not be read"
    assert [p.relative_to(tmp_path).as_posix() for p in result.error_files] == [
        "errors/OperationOutcome.ndjson", "errors/OperationOutcome.002.ndjson"]
    assert [f.type for f in result.files] == ["Patient"]  # error files are not data files
    assert summarize_error_files([]).issues == 0


def test_secrets_stay_out_of_state_and_errors(mock: respx.MockRouter, fake_time: FakeTime, tmp_path: Path) -> None:
    mock.get(f"{BASE}/$export").mock(return_value=kickoff_accepted())
    mock.get(STATUS).mock(return_value=done(manifest([("Patient", f"{FILES}/p.ndjson")])))
    echo = outcome({"severity": "error", "code": "exception",
                    "diagnostics": f"bad header Authorization: Bearer {TOKEN}"})
    mock.get(f"{FILES}/p.ndjson").mock(return_value=httpx.Response(500, json=echo))
    with pytest.raises(FhirServerError) as err:
        export(fake_time, tmp_path, auth=BearerAuth(TOKEN))
    assert TOKEN not in err.value.one_line() and "***" in err.value.one_line()
    text = state_text(tmp_path)
    assert TOKEN not in text and "Bearer" not in text and "Authorization" not in text


# -- the command line -----------------------------------------------------------------------------------------


def test_cli_export_summary_and_progress(
    mock: respx.MockRouter, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BULK_TOKEN", TOKEN)
    kickoff = mock.get(f"{BASE}/Group/trial-1/$export").mock(return_value=kickoff_accepted())
    mock.get(STATUS).mock(side_effect=[
        httpx.Response(202, headers={"Retry-After": "0", "X-Progress": "half way"}),
        done(manifest([("Patient", f"{FILES}/p.ndjson"), ("Observation", f"{FILES}/o.ndjson")],
                      errors=[f"{FILES}/e.ndjson"])),
    ])
    mock.get(f"{FILES}/p.ndjson").mock(return_value=httpx.Response(200, content=ndjson(PATIENTS)))
    mock.get(f"{FILES}/o.ndjson").mock(return_value=httpx.Response(200, content=ndjson(OBSERVATIONS)))
    mock.get(f"{FILES}/e.ndjson").mock(return_value=httpx.Response(200, content=ndjson(
        [outcome({"severity": "error", "code": "processing", "diagnostics": "one failed"})])))
    out_dir = tmp_path / "export"
    code, out, err = run_cli(
        capsys, "export", "--server", BASE, "--auth", "bearer", "--token-env", "BULK_TOKEN", "--group", "trial-1",
        "--type", "Patient,Observation", "--type-filter", "Observation?code=4548-4", "--concurrency", "2",
        "-o", str(out_dir),
    )
    assert code == 0, err
    params = kickoff.calls[0].request.url.params
    assert params["_type"] == "Patient,Observation" and params["_typeFilter"] == "Observation?code=4548-4"
    assert out.count("\n") == 1
    assert out.startswith("exported 2 file(s) (2 type(s), 8 resources, ") and f"to {out_dir}" in out
    assert "_typeFilter applied; new export; transactionTime 2024-05-01T10:00:00.000Z" in out
    assert "export: half way" in err and "downloaded Patient.ndjson: 3 resources" in err
    assert "the server reported 1 issue(s) in 1 error file(s)" in err and "first: error processing: one failed" in err
    assert TOKEN not in out + err

    code, out, err = run_cli(
        capsys, "export", "--server", BASE, "--auth", "bearer", "--token-env", "BULK_TOKEN", "--group", "trial-1",
        "--type", "Patient", "--type", "Observation", "--type-filter", "Observation?code=4548-4", "-o", str(out_dir),
    )
    assert code == 0 and "resumed (0 file(s) fetched now)" in out and "already complete" in err


@pytest.mark.parametrize(("args", "message"), [
    (["--group", "g", "--patient-level"], "at most one of --group ID and --patient-level"),
    (["--since", "yesterday"], "--since: expected a FHIR instant"),
    (["--bulk-file-origin", "https://files.test/path"], "an origin is scheme://host[:port] only"),
    (["--type", "Patient", "--type-filter", "Observation?code=1"], "not among the exported types"),
])
def test_cli_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str, mock: respx.MockRouter
) -> None:
    code, out, err = run_cli(capsys, "export", "--server", BASE, "-o", str(tmp_path), *args)
    assert code == 2 and message in err and out == ""
    assert len(mock.calls) == 0


def test_cli_server_error_exit_code(
    mock: respx.MockRouter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mock.get(f"{BASE}/$export").mock(return_value=httpx.Response(
        400, json=outcome({"severity": "error", "code": "invalid", "diagnostics": "Unknown _outputFormat"})))
    code, _out, err = run_cli(capsys, "export", "--server", BASE, "-o", str(tmp_path))
    assert code == 5
    assert err.strip() == "error: GET $export → 400: error invalid: Unknown _outputFormat"
