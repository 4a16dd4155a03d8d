"""ServerData / AsyncServerData / the pre-filter (matching.prefilter) against a mocked FHIR server (respx; nothing
leaves 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Any

import httpx
import pytest
import respx

from fhir_adapter.criteria.model import Atom, Coding, CompiledCriteria
from fhir_adapter.fhir.capabilities import Capabilities
from fhir_adapter.fhir.client import AsyncFhirClient, FhirClient
from fhir_adapter.matching.evaluate import EvalContext, Matcher
from fhir_adapter.matching.local import LocalData
from fhir_adapter.matching.prefilter import candidate_ids, prefilter_items
from fhir_adapter.matching.screen import ScreenStats, screen, screen_server
from fhir_adapter.matching.server import AsyncServerData, ServerData, batch_bundle, plan_fetch

BASE = "http://127.0.0.1:9/fhir"
LOINC, SCT = "http://loinc.org", "http://snomed.info/sct"
AS_OF = date(2024, 6, 1)

pytestmark = pytest.mark.usefixtures("no_lexicon")


ATOMS = [
    Atom(id="age", kind="inclusion", text="Age 18 or older", category="demographic", comparator="ge", value=18,
         unit="a", computable=True, prefilter="Patient?birthdate=le2006-06-01"),
    Atom(id="inc-1", kind="inclusion", text="Rectal adenocarcinoma", category="condition", comparator="present",
         concepts=[Coding(system=SCT, code="363351006")], computable=True, index=True, resource_types=["Condition"],
         prefilter=f"Patient?_has:Condition:patient:code={SCT}|363351006"),
    Atom(id="inc-2", kind="inclusion", text="Platelets >= 100", category="lab", comparator="ge", value=100,
         unit="10*9/L", concepts=[Coding(system=LOINC, code="777-3"), Coding(system=LOINC, code="26515-7")],
         computable=True),
    Atom(id="exc-1", kind="exclusion", text="Prior oxaliplatin", category="medication", comparator="present",
         concepts=[Coding(system="http://www.nlm.nih.gov/research/umls/rxnorm", code="32592")], computable=True),
]
CRITERIA = CompiledCriteria(trial="NCT00000001", atoms=ATOMS)


def statement(*, batch: bool = True, has: bool = False) -> dict[str, Any]:
    def res(rtype: str, *params: str) -> dict[str, Any]:
        return {"type": rtype, "searchParam": [{"name": p} for p in params]}

    patient_params = ["_id", "birthdate", "gender"] + (["_has"] if has else [])
    return {
        "resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
        "rest": [{
            "mode": "server",
            "interaction": [{"code": "transaction"}] + ([{"code": "batch"}] if batch else []),
            "resource": [
                res("Patient", *patient_params),
                res("Observation", "patient", "code", "date"),
                res("Condition", "patient", "code"),
                res("MedicationRequest", "patient", "code"),
            ],
        }],
    }


def searchset(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset",
                              "entry": [{"resource": r} for r in resources]}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def patient(pid: str, birth: str = "1960-01-01") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "birthDate": birth, "gender": "female"}


def condition(pid: str) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": f"c-{pid}", "subject": {"reference": f"Patient/{pid}"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "code": {"coding": [{"system": SCT, "code": "363351006"}]}, "onsetDateTime": "2024-01-01"}


def platelets(pid: str, value: float, oid: str = "") -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid or f"o-{pid}", "status": "final",
            "subject": {"reference": f"Patient/{pid}"}, "code": {"coding": [{"system": LOINC, "code": "777-3"}]},
            "effectiveDateTime": "2024-05-20", "valueQuantity": {"value": value, "unit": "10*9/L",
                                                                  "system": "http://unitsofmeasure.org",
                                                                  "code": "10*9/L"}}


def batch_answer(request: httpx.Request, records: dict[str, dict[str, list[dict[str, Any]]]]) -> httpx.Response:
    """A batch-response for a batch of GETs, answered from ``records[pid][type]``."""
    body = json.loads(request.content)
    entries = []
    for entry in body["entry"]:
        url = entry["request"]["url"]
        if url.startswith("Patient/"):
            pid = url.split("/", 1)[1]
            entries.append({"resource": patient(pid), "response": {"status": "200 OK"}})
            continue
        rtype, query = url.split("?", 1)
        params = dict(httpx.QueryParams(query))
        pid = params["patient"]
        found = records.get(pid, {}).get(rtype, [])
        entries.append({"resource": searchset(*found), "response": {"status": "200 OK"}})
    return httpx.Response(200, json={"resourceType": "Bundle", "type": "batch-response", "entry": entries})


RECORDS = {
    "p1": {"Condition": [condition("p1")], "Observation": [platelets("p1", 250)]},
    "p2": {"Condition": [condition("p2")], "Observation": [platelets("p2", 50)]},
    "p3": {"Condition": [condition("p3")]},
}


def test_plan_puts_every_search_of_one_patient_in_one_batch() -> None:
    caps = Capabilities.from_statement(statement())
    plan = plan_fetch(ATOMS, caps, context=EvalContext(as_of=AS_OF))
    bundle = batch_bundle(plan, "p1")
    urls = [e["request"]["url"] for e in bundle["entry"]]
    assert bundle["type"] == "batch"
    assert urls[0] == "Patient/p1"
    by_type = {u.split("?")[0]: dict(httpx.QueryParams(u.split("?", 1)[1])) for u in urls[1:]}
    assert set(by_type) == {"Condition", "Observation", "MedicationRequest", "MedicationStatement",
                            "MedicationAdministration"}
    assert all(p["patient"] == "p1" for p in by_type.values())
    assert set(by_type["Observation"]["code"].split(",")) == {f"{LOINC}|777-3", f"{LOINC}|26515-7"}
    assert "code" not in by_type["Condition"]  # prefixes and histology are matched locally


@respx.mock
def test_screen_server_uses_at_most_two_requests_per_candidate() -> None:
    respx.get(f"{BASE}/metadata").respond(json=statement(has=True))
    listing = respx.get(f"{BASE}/Patient").respond(json=searchset(patient("p1"), patient("p2"), patient("p3")))
    batches = respx.post(BASE).mock(side_effect=lambda request: batch_answer(request, RECORDS))
    stats = ScreenStats()
    result = screen_server(CRITERIA, AsyncFhirClient(BASE), as_of=AS_OF, stats=stats, concurrency=2)

    verdicts = {p.patient: p.verdict for p in result.patients}
    assert verdicts == {"Patient/p1": "eligible", "Patient/p2": "ineligible", "Patient/p3": "needs-review"}
    assert [p.patient for p in result.patients] == ["Patient/p1", "Patient/p3", "Patient/p2"]
    assert batches.call_count == 3
    # the pre-filter, patients without a birth date (age unknown), and everyone (to report the ruled-out ones)
    assert listing.call_count == 3
    assert dict(listing.calls[1].request.url.params)["birthdate:missing"] == "true"
    prefilter_query = dict(listing.calls[0].request.url.params.multi_items())
    assert prefilter_query["birthdate"] == "le2006-06-01"
    assert prefilter_query["_has:Condition:patient:code"] == f"{SCT}|363351006"
    assert stats.requests / stats.population <= 2


@respx.mock
def test_prefilter_falls_back_when_has_is_rejected() -> None:
    respx.get(f"{BASE}/metadata").respond(json=statement(has=False))

    def patients(request: httpx.Request) -> httpx.Response:
        names = {k for k, _ in request.url.params.multi_items()}
        if any(n.startswith("_has") for n in names):
            return httpx.Response(400, json={"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "not-supported", "diagnostics": "Unknown search parameter _has"}]})
        return httpx.Response(200, json=searchset(patient("p1"), patient("p2")))

    route = respx.get(f"{BASE}/Patient").mock(side_effect=patients)

    async def run() -> Any:
        async with AsyncFhirClient(BASE) as client:
            source = AsyncServerData(client, ATOMS, context=EvalContext(as_of=AS_OF))
            return await candidate_ids(source)

    found = asyncio.run(run())
    assert found.ids == ["p1", "p2"]
    assert found.applied == ["birthdate"]
    assert found.dropped == ["_has:Condition:patient:code"]
    assert any("birthdate:missing" in dict(c.request.url.params) for c in route.calls)


@respx.mock
def test_without_batch_one_revinclude_search_per_patient() -> None:
    respx.get(f"{BASE}/metadata").respond(json=statement(batch=False))
    search = respx.get(f"{BASE}/Patient").respond(
        json=searchset(patient("p1"), condition("p1"), platelets("p1", 250), platelets("other", 10, "o-x"))
    )
    with FhirClient(BASE) as client:
        data = ServerData(client, ATOMS, context=EvalContext(as_of=AS_OF))
        assert data.patient("p1") is not None
        observations = data.resources("p1", "Observation")
        assert [o["id"] for o in observations] == ["o-p1"]  # resources of another patient are dropped
        assert data.resources("p1", "Condition")[0]["id"] == "c-p1"
    params = search.calls[0].request.url.params
    assert params["_id"] == "p1"
    assert set(params.get_list("_revinclude")) >= {"Observation:patient", "Condition:patient",
                                                    "MedicationRequest:patient"}
    assert data.requests == 1 and search.call_count == 1


@respx.mock
def test_revinclude_rejected_falls_back_to_one_search_per_type() -> None:
    respx.get(f"{BASE}/metadata").respond(json=statement(batch=False))

    def patients(request: httpx.Request) -> httpx.Response:
        if "_revinclude" in request.url.params:
            return httpx.Response(400, json={"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "not-supported"}]})
        return httpx.Response(200, json=searchset(patient("p1")))

    respx.get(f"{BASE}/Patient").mock(side_effect=patients)
    respx.get(f"{BASE}/Observation").respond(json=searchset(platelets("p1", 250)))
    respx.get(f"{BASE}/Condition").respond(json=searchset(condition("p1")))
    for rtype in ("MedicationRequest", "MedicationStatement", "MedicationAdministration"):
        respx.get(f"{BASE}/{rtype}").respond(json=searchset())
    with FhirClient(BASE) as client:
        data = ServerData(client, ATOMS, context=EvalContext(as_of=AS_OF))
        assert data.resources("p1", "Observation")[0]["id"] == "o-p1"
        assert data.plan.mode == "per-type"


@respx.mock
def test_next_links_inside_a_batch_answer_are_followed() -> None:
    respx.get(f"{BASE}/metadata").respond(json=statement())

    def answer(request: httpx.Request) -> httpx.Response:
        response = batch_answer(request, {"p1": {"Observation": [platelets("p1", 250, "o-1")]}})
        body = json.loads(response.content)
        for entry in body["entry"]:
            if entry["resource"].get("entry") and entry["resource"]["entry"][0]["resource"]["id"] == "o-1":
                entry["resource"]["link"] = [{"relation": "next", "url": f"{BASE}/Observation?patient=p1&page=2"}]
        return httpx.Response(200, json=body)

    respx.post(BASE).mock(side_effect=answer)
    page2 = respx.get(f"{BASE}/Observation").respond(json=searchset(platelets("p1", 260, "o-2")))
    with FhirClient(BASE) as client:
        data = ServerData(client, ATOMS, context=EvalContext(as_of=AS_OF))
        ids = [o["id"] for o in data.resources("p1", "Observation")]
    assert ids == ["o-1", "o-2"]
    assert page2.calls[0].request.url.params["page"] == "2"
    assert data.requests == 2


def test_prefilter_items_come_from_computable_inclusions_only() -> None:
    atoms = [*ATOMS, Atom(id="exc-9", kind="exclusion", text="x", prefilter="Patient?gender=male", computable=True)]
    items = prefilter_items(atoms, AS_OF)
    assert ("birthdate", "le2006-06-01") in items
    assert all(name != "gender" for name, _ in items)


def test_prefilter_templates_resolve_against_as_of() -> None:
    atom = Atom(id="age", kind="inclusion", text="18 to 75", computable=True,
                prefilter="Patient?birthdate=le{{today() - 18 years}}&birthdate=gt{{today() - 76 years}}"
                          "&gender={{something()}}")
    assert prefilter_items([atom], date(2024, 2, 29)) == [("birthdate", "le2006-02-28"), ("birthdate", "gt1948-02-29")]


def _ndjson(path: Any, resources: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))


@respx.mock
def test_patients_the_prefilter_rules_out_are_reported_as_locally(tmp_path: Any) -> None:
    """p4 has no rectal cancer (not a candidate), p5 is 14 (fails age): the pre-filter rules both out and they
    are reported from their Patient resource alone; p6 is wrongly left out by the server's search, so the
    cheap check does not make it ineligible and it is fetched and evaluated. Every verdict and reason is the
    one a local export of the same records gives."""
    people = {"p1": patient("p1"), "p4": patient("p4"), "p5": patient("p5", birth="2010-01-01"),
              "p6": patient("p6")}
    records = {pid: {"Condition": [condition(pid)], "Observation": [platelets(pid, 250)]}
               for pid in ("p1", "p5", "p6")}
    respx.get(f"{BASE}/metadata").respond(json=statement(has=True))

    def listing(request: httpx.Request) -> httpx.Response:
        names = {k for k, _ in request.url.params.multi_items()}
        if "birthdate:missing" in names:
            chosen: list[str] = []
        elif names >= {"_has:Condition:patient:code", "birthdate"}:
            chosen = ["p1"]  # p6 wrongly missing
        elif "_has:Condition:patient:code" in names:
            chosen = ["p1", "p5", "p6"]
        else:
            chosen = sorted(people)
        return httpx.Response(200, json=searchset(*(people[p] for p in chosen)))

    respx.get(f"{BASE}/Patient").mock(side_effect=listing)

    def answer(request: httpx.Request) -> httpx.Response:
        response = batch_answer(request, records)
        body = json.loads(response.content)
        for entry in body["entry"]:
            if entry["resource"].get("resourceType") == "Patient":
                entry["resource"] = people[entry["resource"]["id"]]
        return httpx.Response(200, json=body)

    batches = respx.post(BASE).mock(side_effect=answer)
    stats = ScreenStats()
    server = screen_server(CRITERIA, AsyncFhirClient(BASE), as_of=AS_OF, stats=stats)

    by_patient = {p.patient: p for p in server.patients}
    assert set(by_patient) == {"Patient/p1", "Patient/p4", "Patient/p5", "Patient/p6"}
    assert stats.prefiltered == 3 and stats.population == 4
    assert batches.call_count == 2  # p1 and p6 fetched; p4 and p5 decided from the listing
    p4, p5 = by_patient["Patient/p4"], by_patient["Patient/p5"]
    assert (p4.verdict, p4.reason_code) == ("ineligible", "not-a-candidate")
    assert p4.reason == "not a candidate: no record of Rectal adenocarcinoma in the patient's complete problem list"
    assert (p5.verdict, p5.reason_code) == ("ineligible", "inclusion-not-met")
    assert p5.reason.startswith("ineligible: fails inclusion age: 14 years old on 2024-06-01")
    assert next(c for c in p5.criteria if c.id == "inc-2").reason.startswith("not fetched")
    assert by_patient["Patient/p6"].verdict == "eligible"

    # the same records as a local export
    folder = tmp_path / "export"
    folder.mkdir()
    _ndjson(folder / "Patient.ndjson", list(people.values()))
    _ndjson(folder / "Condition.ndjson", [r for rec in records.values() for r in rec["Condition"]])
    _ndjson(folder / "Observation.ndjson", [r for rec in records.values() for r in rec["Observation"]])
    local = screen(CRITERIA, LocalData(folder), as_of=AS_OF)
    assert [(p.patient, p.verdict, p.reason_code, p.reason) for p in local.patients] == [
        (p.patient, p.verdict, p.reason_code, p.reason) for p in server.patients
    ]


@respx.mock
def test_a_server_that_may_ignore_revinclude_never_makes_a_patient_not_a_candidate() -> None:
    """Without batch the Patient and its records come from one ``_revinclude`` search. A server that ignores an
    undeclared ``_revinclude`` answers with the Patient alone: that must read as "unknown", not "no Conditions"."""
    respx.get(f"{BASE}/Patient").respond(json=searchset(patient("p1")))  # quiet: the Patient, nothing included
    for rtype in ("Condition", "Observation", "MedicationRequest", "MedicationStatement", "MedicationAdministration"):
        respx.get(f"{BASE}/{rtype}").respond(json=searchset())  # and really nothing: the probe finds nothing

    def screen_with(statement_json: dict[str, Any]) -> Any:
        respx.get(f"{BASE}/metadata").respond(json=statement_json)
        with FhirClient(BASE) as client:
            data = ServerData(client, ATOMS, context=EvalContext(as_of=AS_OF))
            return Matcher(ATOMS, as_of=AS_OF).evaluate(data, "p1"), data.plan

    undeclared, plan = screen_with(statement(batch=False))
    assert plan.mode == "revinclude" and "Condition" not in plan.complete
    assert undeclared.reason_code == "needs-review"
    assert next(c for c in undeclared.criteria if c.id == "inc-1").result == "unknown"

    declared_statement = statement(batch=False)
    patient_resource = declared_statement["rest"][0]["resource"][0]
    patient_resource["searchRevInclude"] = ["Condition:patient", "Observation:patient"]
    declared, plan = screen_with(declared_statement)
    assert "Condition" in plan.complete
    assert declared.reason_code == "not-a-candidate"


def test_patient_ids_are_percent_encoded_in_every_batch_url() -> None:
    caps = Capabilities.from_statement(statement())
    plan = plan_fetch(ATOMS, caps, context=EvalContext(as_of=AS_OF))
    urls = [e["request"]["url"] for e in batch_bundle(plan, "a?b=c#d")["entry"]]
    assert urls[0] == "Patient/a%3Fb%3Dc%23d"
    assert all("#" not in u and "a?b" not in u for u in urls)
    assert dict(httpx.QueryParams(urls[1].split("?", 1)[1]))["patient"] == "a?b=c#d"



@respx.mock
def test_a_server_that_ignores_revinclude_is_caught_and_searched_per_type() -> None:
    """The server declares no batch and answers ``_revinclude`` with the Patient alone, though the patient has a
    Condition: the per-type probe finds it, the source switches to per-type searches, and nothing is lost."""
    respx.get(f"{BASE}/metadata").respond(json=statement(batch=False))
    respx.get(f"{BASE}/Patient").respond(json=searchset(patient("p1")))
    conditions = respx.get(f"{BASE}/Condition").respond(json=searchset(condition("p1")))
    for rtype in ("Observation", "MedicationRequest", "MedicationStatement", "MedicationAdministration"):
        respx.get(f"{BASE}/{rtype}").respond(json=searchset())
    with FhirClient(BASE) as client:
        data = ServerData(client, ATOMS, context=EvalContext(as_of=AS_OF))
        assert [c["id"] for c in data.resources("p1", "Condition")] == ["c-p1"]
        assert data.plan.mode == "per-type"
    assert conditions.call_count == 1
