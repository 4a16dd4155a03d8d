"""Bad input to every command: one clear error line naming the file / option / field, a non-zero exit, no traceback.

Each case runs ``fhir_adapter.cli.main`` in process. Paths are written as ``{name}`` placeholders filled
from the ``fx`` fixture. No traffic leaves the process except to 127.0.0.1:1 (connection refused): every
other server-facing case runs under respx, and the cases that must fail before the network assert that
no request was sent. Cases whose fix belongs in a module the CLI does not own are ``xfail(strict=True)``
with the module and function in the reason, so they flip when fixed.
"""

from __future__ import annotations

import gzip
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from fhir_adapter.cli import main
from fhir_adapter.cli._fhir_options import FhirOptions
from fhir_adapter.http import NO_RETRY, RetryPolicy
from tests.cli.conftest import empty_server_reads

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SEED = SAMPLES / "NCT06577194.txt"
CTGOV = sorted((SAMPLES / "ctgov").glob("*.json"))[0]
DATA = SAMPLES / "patients" / "data"
REFUSED = "http://127.0.0.1:1/fhir"  # nothing listens on port 1: connection refused, no traffic leaves the host
MOCK = "http://fhir.test/fhir"  # answered by respx only
FHIR = {"Content-Type": "application/fhir+json"}
STATEMENT = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "rest": [{"mode": "server"}]}
TOKEN = "tok-never-print-4f2a"
BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<clinical_study><id_info><nct_id>NCT00000001</nct_id></id_info><brief_title>&lol4;</brief_title></clinical_study>
"""


def _patient(pid: str | None, **extra: Any) -> str:
    resource: dict[str, Any] = {"resourceType": "Patient", "gender": "female", "birthDate": "1968-05-10", **extra}
    if pid is not None:
        resource["id"] = pid
    return json.dumps(resource)


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every bad input once, by placeholder name."""
    root = tmp_path_factory.mktemp("bad")
    paths: dict[str, Path] = {}

    def put(name: str, relative: str, content: str | bytes) -> None:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        paths[name] = path

    def folder(name: str, relative: str) -> None:
        path = root / relative
        path.mkdir(parents=True, exist_ok=True)
        paths[name] = path

    paths["missing"] = root / "missing.json"
    folder("emptydir", "emptydir")
    (paths["emptydir"] / "README.md").write_text("not a trial\n")
    put("empty", "empty.json", "")
    put("binary", "binary.json", b"\x00\x01\x02PK\x03\x04\x00\xff")
    put("truncated", "truncated.json", '{"protocolSection": {"identificationModule": {"nctId": "NCT0')
    put("list", "list.json", "[]")
    put("object", "object.json", '{"a": 1}')
    put("string", "string.json", '"x"')
    put("wrongtypes", "wrongtypes.json", '{"protocolSection": {"designModule": {"phases": 3}}}')
    put("bomb", "bomb.xml", BOMB)
    put("hugeline", "hugeline.txt", "x" * (2 * 1024 * 1024))
    paths["toobig"] = root / "toobig.json"
    with paths["toobig"].open("wb") as handle:  # sparse: the size check refuses it before reading
        handle.truncate(51 * 1024 * 1024)
    put("nostudies", "nostudies.json", '{"studies": []}')
    study = json.loads(CTGOV.read_text(encoding="utf-8"))
    study["protocolSection"]["statusModule"]["overallStatus"] = "FOO"
    put("enum", "enum.json", json.dumps(study))
    put("searchset", "searchset.json", '{"resourceType": "Bundle", "type": "searchset", "entry": []}')
    put("emptykey", "key.pem", "")
    paths["markup"] = root / "a[/red]b.json"  # missing, and a rich closing tag in its name
    paths["underfile"] = CTGOV / "out.json"  # a path whose parent is a file
    # --data sources
    paths["nodata"] = root / "nodata"
    folder("pempty", "pempty")
    put("pmalformed", "pmalformed/Patient.ndjson",
        _patient("p1") + "\n" + '{"resourceType": "Patient", "id": "p2", "name": [{"family": "Secretname"}], \n')
    put("pbundle", "pbundle/bundle.json", '{"resourceType": "Bundle", "type": "collection"}')
    put("pnoid", "pnoid/Patient.ndjson", _patient(None) + "\n")
    put("pmixed", "pmixed/Patient.ndjson", _patient("p1") + "\n" + _patient(None) + "\n")
    put("ptruncgz", "ptruncgz/Patient.ndjson.gz", gzip.compress((_patient("p1") + "\n").encode() * 20)[:30])
    put("pcorruptgz", "pcorruptgz/Patient.ndjson.gz", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\xff" * 40)
    put("phostile", "phostile/Patient.ndjson", _patient("p[/x]") + "\n")
    for name in ("pmalformed", "pbundle", "pnoid", "pmixed", "ptruncgz", "pcorruptgz", "phostile"):
        paths[name + "_file"] = paths[name]
        paths[name] = paths[name].parent
    return {name: str(path) for name, path in paths.items()}


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """No retry back-off: a refused connection fails at once (FHIR client: one attempt; registry: no sleep)."""
    original = FhirOptions._client_settings

    def settings(self: FhirOptions, timeout: float, retry: RetryPolicy | None) -> dict[str, Any]:
        return original(self, timeout, retry or NO_RETRY)

    monkeypatch.setattr(FhirOptions, "_client_settings", settings)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    monkeypatch.delenv("FA_TEST_UNSET_TOKEN", raising=False)
    monkeypatch.setenv("FA_TEST_TOKEN", TOKEN)


@dataclass
class Case:
    args: list[str]
    names: list[str]  # must all be in the error line (placeholders allowed)
    code: int | None = None  # None: any non-zero
    kind: str = "error"  # error: exactly one "error:" line | usage: click's own usage error (exit 2)
    server: str = "none"  # none: respx refuses every request, none may be sent | refused: real 127.0.0.1:1 | <mock>
    requests_allowed: bool = False
    absent: list[str] = field(default_factory=list)  # must not appear anywhere in stdout or stderr


def ph(name: str) -> str:
    """The placeholder of a fixture path."""
    return "{" + name + "}"


# The commands that read one or more trial inputs, with what they need besides the input.
TRIAL_COMMANDS: dict[str, tuple[list[str], int]] = {
    "inspect": ([], 2),
    "convert": ([], 2),
    "criteria": ([], 1),
    "push": (["--server", MOCK], 2),  # every input is checked before the first request
    "match": (["--data", str(DATA), "--patient", "smp-eligible"], 2),
    "screen": (["--data", str(DATA)], 2),
}
BAD_TRIALS: dict[str, list[str]] = {  # input placeholder -> what the line names besides the path
    "missing": ["No such file"],
    "empty": ["empty"],
    "binary": ["binary"],
    "truncated": ["malformed JSON"],
    "list": ["not a ClinicalTrials.gov study"],
    "object": ["not a ClinicalTrials.gov study"],
    "string": ["unrecognised content"],
    "wrongtypes": ["protocolSection.designModule.phases"],
    "bomb": ["unsafe XML"],
    "hugeline": ["unrecognised content"],
    "toobig": ["byte limit"],
    "markup": ["No such file"],  # the name is shown as it is, markup and all
}


def _trial_cases() -> list[Any]:
    cases = []
    for command, (extra, code) in TRIAL_COMMANDS.items():
        for name, words in BAD_TRIALS.items():
            cases.append(pytest.param(Case([command, ph(name), *extra], [ph(name), *words], code),
                                      id=f"{command}-{name}"))
        directory_words = ["is a directory"] if command in ("match", "screen") else ["no trial files"]
        cases.append(pytest.param(Case([command, "{emptydir}", *extra], ["{emptydir}", *directory_words], code),
                                  id=f"{command}-dir-without-trial-files"))
    for command in ("inspect", "convert", "criteria"):
        cases.append(pytest.param(Case([command, "{nostudies}"], ["{nostudies}", "no trial records"], 2),
                                  id=f"{command}-no-records"))
    return cases


MATCH = ["match", str(SEED), "--patient", "smp-eligible"]
SCREEN = ["screen", str(SEED)]
PUSH = ["push", str(CTGOV)]
FETCH_OUT = ["-o", "{emptydir}/fetched"]

CASES: list[Any] = [
    *_trial_cases(),
    # options with a wrong value: our own one-line UsageError naming the option
    pytest.param(Case(["inspect", str(CTGOV), "--input-format", "foo"], ["--input-format", "'foo'"], 2),
                 id="inspect-input-format"),
    pytest.param(Case(["convert", str(CTGOV), "--input-format", "foo"], ["--input-format", "'foo'"], 2),
                 id="convert-input-format"),
    pytest.param(Case(["convert", str(CTGOV), "--fhir-version", "R6"], ["--fhir-version", "R6"], 2),
                 id="convert-fhir-version"),
    pytest.param(Case(["screen", str(SEED), "--data", str(DATA), "--fhir-version", "R6"], ["--fhir-version", "R6"], 2),
                 id="screen-fhir-version"),
    pytest.param(Case([*PUSH, "--server", MOCK, "--fhir-version", "R6"], ["--fhir-version", "R6"], 2),
                 id="push-fhir-version"),
    pytest.param(Case([*MATCH, "--data", str(DATA), "--format", "yaml"], ["--format", "yaml"], 2), id="match-format"),
    pytest.param(Case([*SCREEN, "--data", str(DATA), "--format", "yaml"], ["--format", "yaml"], 2),
                 id="screen-format"),
    pytest.param(Case([*PUSH, "--server", MOCK, "--format", "yaml"], ["--format", "yaml"], 2), id="push-format"),
    pytest.param(Case([*MATCH, "--data", str(DATA), "--as-of", "2025-13-45"], ["--as-of", "2025-13-45"], 2),
                 id="match-as-of"),
    pytest.param(Case([*SCREEN, "--data", str(DATA), "--as-of", "2025-13-45"], ["--as-of", "2025-13-45"], 2),
                 id="screen-as-of"),
    # options click itself refuses: its usage error (exit 2) names the option
    pytest.param(Case(["inspect", str(CTGOV), "--format", "yaml"], ["--format"], 2, "usage"), id="inspect-format"),
    pytest.param(Case(["criteria", str(CTGOV), "--format", "yaml"], ["--format"], 2, "usage"), id="criteria-format"),
    pytest.param(Case([*SCREEN, "--data", str(DATA), "--limit", "0"], ["--limit"], 2, "usage"), id="screen-limit-0"),
    pytest.param(Case([*SCREEN, "--data", str(DATA), "--concurrency", "0"], ["--concurrency"], 2, "usage"),
                 id="screen-concurrency-0"),
    pytest.param(Case([*MATCH, "--data", str(DATA), "--recency-days", "-1"], ["--recency-days"], 2, "usage"),
                 id="match-recency-days"),
    pytest.param(Case([*SCREEN, "--data", str(DATA), "--recency-days", "-1"], ["--recency-days"], 2, "usage"),
                 id="screen-recency-days-unknown"),
    pytest.param(Case(["fetch"], ["Missing argument 'ids'"], 2, "usage"), id="fetch-no-ids"),
    # output paths: refused before any work
    pytest.param(Case(["convert", str(CTGOV), "-o", "{underfile}"], ["--output", str(CTGOV), "not a directory"], 2),
                 id="convert-output-under-a-file"),
    pytest.param(Case([*SCREEN, "--data", str(DATA), "-o", "{underfile}"], ["--output", "not a directory"], 2),
                 id="screen-output-under-a-file"),
    pytest.param(Case([*SCREEN, "--data", str(DATA), "--emit-fhir", "{underfile}"], ["--emit-fhir"], 2),
                 id="screen-emit-under-a-file"),
    pytest.param(Case([*SCREEN, "--data", str(DATA), "--checkpoint", "{emptydir}"], ["--checkpoint", "{emptydir}"], 2),
                 id="screen-checkpoint-is-a-directory"),
    pytest.param(Case(["convert", str(CTGOV), str(SEED)], ["-o DIR"], 2), id="convert-several-without-o"),
    # --data
    *[
        pytest.param(Case([*base, "--data", ph(data), "--strict"], names, 2), id=f"{base[0]}-data-{label}")
        for base in (MATCH, SCREEN)
        for data, names, label in (
            ("nodata", ["{nodata}", "no such file"], "missing"),
            ("pempty", ["{pempty}", "no FHIR data files"], "empty-dir"),
            ("pbundle", ["{pbundle}", "no Patient"], "bundle-without-entries"),
            ("pnoid", ["{pnoid}", "Patient resource has no id"], "only-patient-without-id"),
            ("ptruncgz", ["{ptruncgz}", "cannot read"], "truncated-gz"),
            ("pcorruptgz", ["{pcorruptgz}", "corrupt"], "corrupt-gz"),
        )
    ],
    pytest.param(Case(["match", str(SEED), "--patient", "p1", "--data", "{pmalformed}", "--strict"],
                      ["{pmalformed_file}:2", "malformed JSON"], 2, absent=["Secretname"]),
                 id="match-data-malformed-line"),
    pytest.param(Case([*SCREEN, "--data", "{pmalformed}", "--strict"], ["{pmalformed_file}:2", "malformed JSON"], 2,
                      absent=["Secretname"]), id="screen-data-malformed-line"),
    pytest.param(Case(["match", str(SEED), "--data", str(DATA), "--patient", "nobody"], ["Patient/nobody"], 2),
                 id="match-unknown-patient"),
    pytest.param(Case([*MATCH, "--data", str(DATA), "--server", MOCK], ["--data", "--server"], 2),
                 id="match-data-and-server"),
    pytest.param(Case(MATCH, ["--data", "--server"], 2), id="match-neither-data-nor-server"),
    pytest.param(Case([*SCREEN, "--data", str(DATA), "--server", MOCK], ["--data", "--server"], 2),
                 id="screen-data-and-server"),
    pytest.param(Case(SCREEN, ["--data", "--server"], 2), id="screen-neither-data-nor-server"),
    pytest.param(Case([*SCREEN, "--data", "{pmixed}", "--as-of", "2025-01-01", "--strict"],
                      ["{pmixed_file}:2", "id"], 2),
                 id="screen-data-patient-without-id-among-others"),
    pytest.param(Case([*SCREEN, "--data", "{ptruncgz}", "--strict"], ["{ptruncgz_file}"], 2),
                 id="screen-truncated-gz-names-file"),
    pytest.param(Case([*SCREEN, "--data", "{pcorruptgz}", "--strict"], ["{pcorruptgz_file}"], 2),
                 id="screen-corrupt-gz-names-file"),
    # servers and credentials
    pytest.param(Case([*PUSH, "--server", REFUSED], ["127.0.0.1:1", "cannot reach"], 5, server="refused",
                      requests_allowed=True), id="push-server-refused"),
    pytest.param(Case([*MATCH, "--server", REFUSED], ["127.0.0.1:1", "cannot reach"], 5, server="refused",
                      requests_allowed=True), id="match-server-refused"),
    pytest.param(Case([*SCREEN, "--server", REFUSED], ["127.0.0.1:1", "cannot reach"], 5, server="refused",
                      requests_allowed=True), id="screen-server-refused"),
    *[
        pytest.param(Case([*base, "--server", "not a url"], ["--server", "'not a url'"], 2),
                     id=f"{base[0]}-server-not-a-url")
        for base in (PUSH, MATCH, SCREEN)
    ],
    pytest.param(Case([*PUSH, "--server", "ftp://127.0.0.1:1/fhir"], ["--server", "ftp://"], 2), id="push-server-ftp"),
    pytest.param(Case([*PUSH, "--server", MOCK, "--auth", "bearer"], ["--token-env", "--token-file"], 2),
                 id="push-bearer-without-token"),
    pytest.param(Case([*PUSH, "--server", MOCK, "--auth", "bearer", "--token-env", "FA_TEST_UNSET_TOKEN"],
                      ["FA_TEST_UNSET_TOKEN"], 2), id="push-bearer-token-env-unset"),
    pytest.param(Case([*PUSH, "--server", MOCK, "--auth", "bearer", "--token-file", "{missing}"],
                      ["{missing}", "token file"], 2), id="push-bearer-token-file-missing"),
    pytest.param(Case([*PUSH, "--server", MOCK, "--auth", "smart"], ["--client-id", "--private-key"], 2),
                 id="push-smart-without-key"),
    pytest.param(Case([*SCREEN, "--server", MOCK, "--auth", "smart"], ["--client-id", "--private-key"], 2),
                 id="screen-smart-without-key"),
    pytest.param(Case([*PUSH, "--server", MOCK, "--auth", "smart", "--client-id", "c", "--private-key", "{emptykey}"],
                      ["{emptykey}"], 2), id="push-smart-empty-key"),
    pytest.param(Case([*PUSH, "--server", MOCK, "--auth", "kerberos"], ["--auth", "kerberos"], 2), id="push-auth-kind"),
    pytest.param(Case([*PUSH, "--server", MOCK, "--alg", "HS256"], ["--alg", "HS256"], 2), id="push-alg"),
    pytest.param(Case(["push", "{searchset}", "--server", MOCK], ["{searchset}", "Bundle.type", "searchset"], 2),
                 id="push-searchset-bundle"),
    pytest.param(Case(["push", "{enum}", "--server", MOCK, "--auth", "bearer", "--token-env",
                       "FA_TEST_TOKEN"], ["401"], 6, server="unauthorized", requests_allowed=True, absent=[TOKEN]),
                 id="push-401-never-prints-the-token"),
    # hostile server answers
    pytest.param(Case([*PUSH, "--server", MOCK], ["metadata", "text/html"], 5, server="html", requests_allowed=True),
                 id="push-metadata-html"),
    pytest.param(Case([*PUSH, "--server", MOCK], ["metadata", "rest"], None, server="rest-not-a-list",
                      requests_allowed=True), id="push-capabilities-rest-not-a-list"),
    pytest.param(Case([*SCREEN, "--server", MOCK], ["Bundle"], 5, server="search-not-bundle", requests_allowed=True),
                 id="screen-search-answer-not-a-bundle"),
    pytest.param(Case([*SCREEN, "--server", MOCK], ["entry"], 5, server="search-entry-not-a-list",
                      requests_allowed=True), id="screen-search-entry-not-a-list"),
    # fetch
    pytest.param(Case(["fetch", "NCTBOGUS", *FETCH_OUT], ["'NCTBOGUS'", "not an NCT id"], 2), id="fetch-bogus-id"),
    pytest.param(Case(["fetch", "NCT06577194", "--base-url", "not a url", *FETCH_OUT],
                      ["--base-url", "'not a url'"], 2), id="fetch-base-url-not-a-url"),
    pytest.param(Case(["fetch", "NCT06577194", "--base-url", "http://127.0.0.1:1/api/v2", *FETCH_OUT],
                      ["127.0.0.1:1", "NCT06577194"], 3, server="refused", requests_allowed=True),
                 id="fetch-refused"),
    pytest.param(Case(["fetch", "NCT06577194", "-o", str(CTGOV)], ["--output-dir", str(CTGOV)], 2),
                 id="fetch-output-dir-is-a-file"),
    pytest.param(Case(["screen", str(SEED), "--data", "{phostile}", "--as-of", "2025-01-01"], [], 0),
                 id="screen-table-with-markup-in-patient-id"),
]

SERVERS: dict[str, httpx.Response | None] = {
    "html": httpx.Response(200, text="<html>hi</html>", headers={"Content-Type": "text/html"}),
    "unauthorized": httpx.Response(401, text="no"),
    "rest-not-a-list": httpx.Response(200, json={"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
                                                 "rest": "x"}, headers=FHIR),
    "search-not-bundle": httpx.Response(200, json={"resourceType": "Patient", "id": "x"}, headers=FHIR),
    "search-entry-not-a-list": httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": "x"},
                                              headers=FHIR),
}


def fill(text: str, fx: dict[str, str]) -> str:
    for name, path in fx.items():
        text = text.replace(ph(name), path)
    return text


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def run_case(case: Case, fx: dict[str, str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, int]:
    argv = [fill(a, fx) for a in case.args]
    if case.server == "refused":
        return (*run(argv, capsys), -1)
    with respx.mock(assert_all_called=False) as router:
        answer = SERVERS.get(case.server)
        if answer is not None:
            router.get(f"{MOCK}/metadata").mock(
                return_value=answer if case.server in ("html", "unauthorized", "rest-not-a-list")
                else httpx.Response(200, json=STATEMENT, headers=FHIR))
            router.route(host="fhir.test").mock(return_value=answer)
        code, out, err = run(argv, capsys)
        return code, out, err, len(router.calls)


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_clear_line(case: Case, fx: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err, requests = run_case(case, fx, capsys)
    names = [fill(n, fx) for n in case.names]
    assert "Traceback" not in err and "internal error" not in err, err
    for secret in case.absent:
        assert secret not in out + err
    if not case.requests_allowed:
        assert requests == 0, "a request was sent although the input was refused first"
    if case.code == 0:
        assert code == 0, err
        return
    assert code != 0, err
    if case.code is not None:
        assert code == case.code, err
    if case.kind == "usage":  # click's usage error: a box, but the option is named once and the exit code is 2
        for name in names:
            assert sum(name in line for line in err.splitlines()) == 1, err
        return
    # warnings, and fetch's notes that it is retrying, may come before the one error line
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("warning:", "retrying in "))]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for name in names:
        assert name.lower() in lines[0].lower(), f"{name!r} not named in {lines[0]!r}"


@pytest.mark.parametrize(
    "argv",
    [
        ["inspect", "{enum}"],
        ["convert", "{enum}"],
        ["criteria", "{enum}"],
        ["match", "{enum}", "--data", str(DATA), "--patient", "smp-eligible", "--as-of", "2025-01-01"],
        ["screen", "{enum}", "--data", str(DATA), "--as-of", "2025-01-01", "--format", "json"],
        ["push", "{enum}", "--server", MOCK, "--dry-run", "--format", "json"],
    ],
    ids=lambda argv: argv[0],
)
def test_unknown_enum_value_warns_and_goes_on(
    argv: list[str], fx: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with respx.mock(assert_all_called=False) as router:
        router.get(f"{MOCK}/metadata").mock(return_value=httpx.Response(200, json=STATEMENT, headers=FHIR))
        empty_server_reads(router, MOCK)  # push plans against what the server holds
        code, out, err = run([fill(a, fx) for a in argv], capsys)
    assert code == 0, err
    assert out
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "overallStatus" in warnings[0] and "'FOO'" in warnings[0], err
    assert "error" not in err


def test_markup_in_trial_text_is_shown_not_interpreted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = json.loads(CTGOV.read_text(encoding="utf-8"))
    study["protocolSection"]["identificationModule"]["briefTitle"] = "Title [/i] with [bold]tags[/bold]"
    study["protocolSection"]["eligibilityModule"]["eligibilityCriteria"] = (
        "Inclusion Criteria:\n\n* Age >= 18 [/see protocol]\n\nExclusion Criteria:\n\n* Pregnant [/]\n"
    )
    path = tmp_path / "markup.json"
    path.write_text(json.dumps(study), encoding="utf-8")
    for command in ("inspect", "criteria"):
        code, out, err = run([command, str(path)], capsys)
        assert code == 0 and "Traceback" not in err, err
    code, out, err = run(["inspect", str(path)], capsys)
    assert "Title [/i] with [bold]tags[/bold]" in out


def test_debug_anywhere_shows_the_traceback_and_keeps_the_exit_code(
    fx: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    plain, _out, _err = run(["convert", fx["missing"]], capsys)
    code, _out, err = run(["convert", fx["missing"], "--debug"], capsys)
    assert code == plain == 2
    assert "Traceback" in err and "InputError" in err and "error:" in err
