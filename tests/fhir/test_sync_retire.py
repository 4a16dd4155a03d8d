"""Retiring what a trial no longer has: the member List, the referrer check, the DELETE batch (an in-memory fake)."""

from __future__ import annotations

from typing import Any

from fhir_adapter.errors import FhirServerError
from fhir_adapter.fhir.capabilities import Capabilities
from fhir_adapter.fhir.references import local_reference
from fhir_adapter.fhir.sync_retire import (
    Member,
    StoredMembers,
    plan_retire,
    referrers,
    retire,
    with_member_list,
)
from fhir_adapter.mapping.canonical import IDENTIFIER_SYSTEM as SYS
from tests.fhir.fhir_fakes import capability_statement


class FakeServer:
    """Resources by ``Type/id``; searches by a declared reference parameter, or lists a type; batch DELETE."""

    def __init__(
        self, types: dict[str, list[str]], resources: list[dict[str, Any]], refuse: frozenset[str] = frozenset()
    ) -> None:
        self.caps = Capabilities.from_statement(capability_statement(types=types))
        self.store = {f"{r['resourceType']}/{r['id']}": r for r in resources}
        self.searches: list[tuple[str, Any]] = []
        self.refuse = refuse

    def capabilities(self) -> Capabilities:
        return self.caps

    def search(self, resource_type: str, params: Any = None) -> list[dict[str, Any]]:
        self.searches.append((resource_type, params))
        found = [r for r in self.store.values() if r["resourceType"] == resource_type]
        for value in (params or {}).values():
            found = [r for r in found if f'"{value}"' in str(r).replace("'", '"')]
        return found

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        if f"{resource_type}/{resource_id}" not in self.store:
            raise FhirServerError("gone", status_code=404)
        return self.store[f"{resource_type}/{resource_id}"]

    def batch(self, bundle: dict[str, Any]) -> dict[str, Any]:
        answers = []
        for entry in bundle["entry"]:
            ref = entry["request"]["url"]
            assert entry["request"]["method"] == "DELETE"
            if ref in self.refuse:
                answers.append({"response": {"status": "409 Conflict", "outcome": {"resourceType": "OperationOutcome",
                                "issue": [{"severity": "error", "code": "processing",
                                           "diagnostics": f"{ref} is referenced by Encounter/e1"}]}}})
                continue
            self.store.pop(ref, None)
            answers.append({"response": {"status": "204 No Content"}})
        return {"resourceType": "Bundle", "type": "batch-response", "entry": answers}

    transaction = batch


def ident(value: str) -> list[dict[str, str]]:
    return [{"system": SYS, "value": value}]


def trial_bundle(sites: list[str]) -> dict[str, Any]:
    study = {"fullUrl": "urn:uuid:rs", "resource": {"resourceType": "ResearchStudy", "identifier": ident("NCT1"),
                                                    "site": [{"reference": f"urn:uuid:{s}"} for s in sites]}}
    locations = [{"fullUrl": f"urn:uuid:{s}", "resource": {"resourceType": "Location", "identifier": ident(s)}}
                 for s in sites]
    return {"resourceType": "Bundle", "type": "transaction", "entry": [study, *locations]}


def test_member_list_names_every_other_entry_by_reference_type_and_identifier() -> None:
    bundle = with_member_list(trial_bundle(["site:a", "site:b"]))
    listed = bundle["entry"][-1]
    assert listed["resource"]["identifier"] == ident("NCT1-members")
    assert listed["request"]["ifNoneExist"] == f"identifier={SYS}|NCT1-members"
    assert [e["item"] for e in listed["resource"]["entry"]] == [
        {"reference": "urn:uuid:rs", "type": "ResearchStudy", "identifier": {"system": SYS, "value": "NCT1"}},
        {"reference": "urn:uuid:site:a", "type": "Location", "identifier": {"system": SYS, "value": "site:a"}},
        {"reference": "urn:uuid:site:b", "type": "Location", "identifier": {"system": SYS, "value": "site:b"}},
    ]
    assert with_member_list(bundle)["entry"][-1] == listed and len(with_member_list(bundle)["entry"]) == 4
    no_trial = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Organization"}}]}
    assert with_member_list(no_trial) is no_trial
    assert local_reference("http://x/fhir/Location/7/_history/2") == "Location/7"
    assert local_reference("urn:uuid:1") is None


def _before() -> StoredMembers:
    return StoredMembers("List/m1", (Member("ResearchStudy", "NCT1", "ResearchStudy/r1"),
                                     Member("Location", "site:a", "Location/a"),
                                     Member("Location", "site:b", "Location/b"),
                                     Member("Location", "site:c", "Location/c")))


def test_a_dropped_site_is_retired_unless_another_trial_refers_to_it() -> None:
    other_trial = {"resourceType": "ResearchStudy", "id": "r2", "site": [{"reference": "Location/b"}]}
    server = FakeServer({"Location": ["identifier"]}, [other_trial, {"resourceType": "Location", "id": "b"},
                                                       {"resourceType": "Location", "id": "c"}])
    plans = plan_retire(server, server.caps, trial_bundle(["site:a"]), _before())
    assert [(p.identifier, p.action, p.reason) for p in plans] == [
        ("site:b", "keep", "still referenced by ResearchStudy/r2"),
        ("site:c", "retire", "no longer in the trial; unreferenced"),
    ]
    # neither ResearchStudy nor List declares the parameter: each type is listed once and its references read
    assert ("ResearchStudy", None) in server.searches and ("List", None) in server.searches
    outcomes = retire(server, server.caps, plans, 5)
    assert [(o.index, o.identifier.rsplit("|", 1)[-1], o.outcome) for o in outcomes] == [
        (5, "site:b", "kept"), (6, "site:c", "retired")]
    assert "Location/c" not in server.store and "Location/b" in server.store


def test_declared_search_is_used_and_the_trials_own_resources_do_not_count() -> None:
    own_role = {"resourceType": "PractitionerRole", "id": "p1", "location": [{"reference": "Location/c"}]}
    server = FakeServer({"PractitionerRole": ["identifier", "location"], "List": ["identifier", "item"],
                         "ResearchStudy": ["identifier", "site"]}, [own_role])
    found = referrers(server, server.caps, ["Location/c"], exclude={"PractitionerRole/p1"})
    assert found == {}
    assert ("PractitionerRole", {"location": "Location/c"}) in server.searches
    assert ("List", {"item": "Location/c"}) in server.searches
    assert referrers(server, server.caps, ["Location/c"], exclude=set()) == {"Location/c": "PractitionerRole/p1"}


def test_nothing_to_retire_without_a_stored_list_or_when_nothing_was_dropped() -> None:
    server = FakeServer({}, [])
    assert plan_retire(server, server.caps, trial_bundle(["site:a"]), None) == []
    same = StoredMembers("List/m1", (Member("Location", "site:a", "Location/a"),))
    assert plan_retire(server, server.caps, trial_bundle(["site:a"]), same) == []
    assert server.searches == []


def test_a_refused_delete_is_kept_with_the_servers_reason() -> None:
    server = FakeServer({}, [{"resourceType": "Location", "id": "c"}], refuse=frozenset({"Location/c"}))
    plans = plan_retire(server, server.caps, trial_bundle(["site:a", "site:b"]), _before())
    assert [(p.identifier, p.action) for p in plans] == [("site:c", "retire")]
    [outcome] = retire(server, server.caps, plans, 0)
    assert outcome.outcome == "kept" and outcome.status == "409 Conflict"
    assert outcome.detail == ("the server refused the DELETE: error processing: Location/c is referenced by "
                              "Encounter/e1")
