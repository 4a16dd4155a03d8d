"""Loading the service's trials from a FHIR server that `push` wrote them to (respx stands in for the server):
R4 and R5 shapes, paging, active studies only, auth, and one-line errors for an unreachable or empty server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from fhir_adapter.fhir.client import FhirClient
from fhir_adapter.fhir.push import bundle_for_input
from fhir_adapter.service.catalog import load_catalog, load_server_catalog
from fhir_adapter.service.server_trials import registry_status

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "samples" / "NCT06577194.txt"
CORPUS = ROOT.parent / "shared" / "data" / "ctgov"
OTHER = CORPUS / "NCT05147467.json"  # recruiting, no index condition, registry conditions the lexicon codes
BASE = "http://127.0.0.1:8999/fhir"
SYS = "http://fhir-adapter.org/fhir/identifier"


def stored(path: Path, version: str = "R4") -> list[dict[str, Any]]:
    """The resources of the trial's Bundle as a server holds them: ids from the fullUrl, references rewritten."""
    bundle, _ = bundle_for_input(path, version)
    names = {e["fullUrl"]: f"{e['resource']['resourceType']}/{e['fullUrl'].rsplit(':', 1)[-1]}"
             for e in bundle["entry"]}
    text = json.dumps([e["resource"] for e in bundle["entry"]])
    for full_url, ref in names.items():
        text = text.replace(f'"{full_url}"', f'"{ref}"')
    resources: list[dict[str, Any]] = json.loads(text)
    for resource, full_url in zip(resources, names, strict=True):
        resource["id"] = full_url.rsplit(":", 1)[-1]
    return resources


def searchset(resources: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    links = [{"relation": "next", "url": next_url}] if next_url else []
    return {"resourceType": "Bundle", "type": "searchset", "link": links,
            "entry": [{"resource": r} for r in resources]}


def serve(router: respx.Router, resources: list[dict[str, Any]], *, page: int = 1) -> None:
    """ResearchStudy search in pages of ``page`` studies (``next`` links), and reads of every resource."""
    studies = [r for r in resources if r["resourceType"] == "ResearchStudy"]
    pages = [studies[i: i + page] for i in range(0, len(studies), page)] or [[]]

    def search(request: httpx.Request) -> httpx.Response:
        assert request.url.params.get("_count") == "100"
        n = int(request.url.params.get("page", "1"))
        next_url = f"{BASE}/ResearchStudy?_count=100&page={n + 1}" if n < len(pages) else None
        return httpx.Response(200, json=searchset(pages[n - 1], next_url))

    router.get(f"{BASE}/ResearchStudy").mock(side_effect=search)
    for r in resources:
        router.get(f"{BASE}/{r['resourceType']}/{r['id']}").mock(return_value=httpx.Response(200, json=r))


def atoms(catalog: Any) -> dict[str, list[dict[str, Any]]]:
    return {t.id: [a.model_dump() for a in t.criteria.atoms] for t in catalog.trials}


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_the_pushed_trials_compile_to_the_same_atoms_as_their_files(version: str) -> None:
    resources = stored(SEED, version) + stored(OTHER, version)
    with respx.mock(assert_all_called=False) as router, FhirClient(BASE) as client:
        serve(router, resources, page=1)
        catalog = load_server_catalog(client)
        reads = {call.request.url.path.split("/")[-2] for call in router.calls}
    from_files = load_catalog([SEED, OTHER])
    assert sorted(atoms(catalog)) == ["NCT05147467", "NCT06577194"]
    assert atoms(catalog) == atoms(from_files)
    assert {t.id: [a.concept_key for a in t.registry] for t in catalog.trials} == {
        t.id: [a.concept_key for a in t.registry] for t in from_files.trials}
    seed = next(t for t in catalog.trials if t.id == "NCT06577194")
    assert seed.record.source == f"{BASE}/ResearchStudy/{seed.record.source.rsplit('/', 1)[-1]}"
    assert seed.record.eligibility.minimum_age is not None and seed.record.eligibility.minimum_age.raw == "18 Years"
    assert ("EvidenceVariable" in reads) == (version == "R5")


def test_only_active_studies_pushed_by_this_tool_are_loaded() -> None:
    resources = stored(SEED) + stored(OTHER)
    other = next(r for r in resources if r["resourceType"] == "ResearchStudy" and "NCT05147467" in json.dumps(r))
    other["extension"] = [{"url": "http://fhir-adapter.org/fhir/StructureDefinition/registry-overall-status",
                           "valueString": "COMPLETED"}]
    foreign = {"resourceType": "ResearchStudy", "id": "foreign", "status": "active",
               "identifier": [{"system": "urn:other", "value": "X"}]}
    with respx.mock(assert_all_called=False) as router, FhirClient(BASE) as client:
        serve(router, [*resources, foreign], page=2)
        catalog = load_server_catalog(client)
        group_reads = [c for c in router.calls if "/Group/" in str(c.request.url)]
    assert [t.id for t in catalog.trials] == ["NCT06577194"]
    assert catalog.skipped == [f"ResearchStudy/{other['id']} (NCT05147467): not recruiting (COMPLETED)"]
    assert len(group_reads) == 1  # the inactive study's Group is never read


def test_registry_status_from_the_extension_or_the_fhir_status() -> None:
    ext = "http://fhir-adapter.org/fhir/StructureDefinition/registry-overall-status"
    assert registry_status({"extension": [{"url": ext, "valueString": "Not yet recruiting"}]}) == "NOT_YET_RECRUITING"
    assert registry_status({"status": "active"}) == "RECRUITING"
    assert registry_status({"status": "completed"}) == "COMPLETED"
    r5 = {"recruitment": {}, "progressStatus": [{"state": {"coding": [{"code": "enrolling-by-invitation"}]}}]}
    assert registry_status(r5) == "ENROLLING_BY_INVITATION"


def _serve_cli(args: list[str], monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Run ``fhir-adapter serve`` up to the point where uvicorn would start; returns the apps it got."""
    import uvicorn

    from fhir_adapter.cli import main

    apps: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: apps.append(app))
    main(["serve", "--demo", *args])
    return apps


def test_serve_reads_the_server_with_the_auth_options(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRIALS_TOKEN", "tok-secret-trials")
    with respx.mock(assert_all_called=False) as router:
        serve(router, stored(SEED))
        with pytest.raises(SystemExit) as exited:
            apps = _serve_cli(["--trials", BASE, "--auth", "bearer", "--token-env", "TRIALS_TOKEN"], monkeypatch)
            raise SystemExit(0 if apps else 1)
        headers = {c.request.headers.get("authorization") for c in router.calls}
    assert exited.value.code == 0
    assert headers == {"Bearer tok-secret-trials"}
    err = capsys.readouterr().err
    assert "serving 1 trial(s)" in err and "tok-secret-trials" not in err


@pytest.mark.parametrize(
    ("studies", "code", "message"),
    [
        ([], 2, f"error: {BASE}: no ResearchStudy pushed by fhir-adapter (identifier system {SYS}); push the trials"),
        ([{"resourceType": "ResearchStudy", "id": "x", "status": "active"}], 2,
         "1 ResearchStudy resources, none pushed by fhir-adapter"),
    ],
)
def test_a_server_without_pushed_studies_is_one_line(
    studies: list[dict[str, Any]], code: int, message: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    with respx.mock(assert_all_called=False) as router:
        serve(router, studies)
        with pytest.raises(SystemExit) as exited:
            _serve_cli(["--trials", BASE], monkeypatch)
    err = capsys.readouterr().err
    assert exited.value.code == code and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_an_unreachable_server_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _serve_cli(["--trials", "http://127.0.0.1:1/fhir"], monkeypatch)
    err = capsys.readouterr().err
    assert exited.value.code == 5, err
    assert "127.0.0.1:1" in err and "ResearchStudy" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_two_servers_in_trials_are_refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _serve_cli(["--trials", BASE, "--trials", "http://127.0.0.1:2/fhir"], monkeypatch)
    assert exited.value.code == 2 and "at most one FHIR server" in capsys.readouterr().err


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_the_pushed_study_names_its_interventions_with_their_registry_types(version: str) -> None:
    from fhir_adapter.ingest import load_trial
    from fhir_adapter.service.server_trials import interventions

    study = next(r for r in stored(OTHER, version) if r["resourceType"] == "ResearchStudy" and not r.get("partOf"))
    registry = load_trial(OTHER)
    assert [(i.name, i.type) for i in interventions(study)] == [(i.name, i.type) for i in registry.interventions]
    assert any(i.type == "DRUG" for i in interventions(study))
