"""Verdict rules: ineligible / needs-review / eligible, to_confirm, deceased, one-line reason."""

from __future__ import annotations

from datetime import date

from fhir_adapter.criteria.model import Atom
from fhir_adapter.matching.model import AtomResult
from fhir_adapter.matching.verdict import deceased_reason, decide

AS_OF = date(2024, 6, 1)
ALIVE = {"resourceType": "Patient", "id": "p1"}


def atoms() -> list[Atom]:
    return [
        Atom(id="inc-1", kind="inclusion", text="ECOG 0-1", computable=True),
        Atom(id="exc-1", kind="exclusion", text="HIV", computable=True),
        Atom(id="exc-2", kind="exclusion", text="toxicity", computable=False, reason="free text"),
    ]


def results(inc: str, exc: str) -> list[AtomResult]:
    return [
        AtomResult(id="inc-1", result=inc, reason=f"inc {inc}"),  # type: ignore[arg-type]
        AtomResult(id="exc-1", result=exc, reason=f"HIV {exc}"),  # type: ignore[arg-type]
        AtomResult(id="exc-2", result="review", reason="not evaluated: free text"),
    ]


def test_eligible_lists_review_atoms_to_confirm() -> None:
    result = decide(atoms(), results("met", "not-met"), ALIVE, "p1", AS_OF)
    assert (result.verdict, result.to_confirm) == ("eligible", ["exc-2"])
    assert result.reason == "eligible: 2 computable criteria satisfied; 1 to confirm"
    assert result.contract() == {
        "patient": "Patient/p1",
        "verdict": "eligible",
        "reason_code": "eligible",
        "reason": "eligible: 2 computable criteria satisfied; 1 to confirm",
        "open_items": [],
        "to_confirm": ["exc-2"],
        "criteria": [
            {"id": "inc-1", "result": "met", "reason": "inc met", "evidence": []},
            {"id": "exc-1", "result": "not-met", "reason": "HIV not-met", "evidence": []},
            {"id": "exc-2", "result": "review", "reason": "not evaluated: free text", "evidence": []},
        ],
    }


def test_exclusion_met_is_ineligible_and_keeps_to_confirm() -> None:
    result = decide(atoms(), results("met", "met"), ALIVE, "p1", AS_OF)
    assert (result.verdict, result.to_confirm) == ("ineligible", ["exc-2"])
    assert result.reason == "ineligible: meets exclusion exc-1: HIV met"
    assert result.reason_code == "exclusion-met"


def test_inclusion_not_met_is_ineligible_even_with_unknowns() -> None:
    result = decide(atoms(), results("not-met", "unknown"), ALIVE, "p1", AS_OF)
    assert result.verdict == "ineligible"
    assert result.reason == "ineligible: fails inclusion inc-1: inc not-met"
    assert result.reason_code == "inclusion-not-met"


def test_unknown_without_failure_needs_review() -> None:
    result = decide(atoms(), results("unknown", "not-met"), ALIVE, "p1", AS_OF)
    assert result.verdict == "needs-review"
    assert result.reason == "needs-review: needs inc-1"  # no label, no need: the id is what is left


def test_needs_review_lists_what_to_obtain_fewest_words_first() -> None:
    found = results("unknown", "unknown")
    found[0].need, found[0].label = "ECOG performance status", "ECOG performance status"
    found[1].need, found[1].label = "HIV test", "HIV infection"
    result = decide(atoms(), found, ALIVE, "p1", AS_OF)
    assert (result.verdict, result.reason_code) == ("needs-review", "needs-review")
    assert result.open_items == ["ECOG performance status", "HIV test"]
    assert result.reason == "needs-review: needs ECOG performance status, HIV test"
    assert result.contract()["open_items"] == ["ECOG performance status", "HIV test"]


def test_an_index_condition_that_fails_makes_the_patient_not_a_candidate() -> None:
    index = [atoms()[0].model_copy(update={"index": True}), *atoms()[1:]]
    found = results("not-met", "met")
    found[0].reason = "no record of rectal cancer in the patient's complete problem list"
    result = decide(index, found, ALIVE, "p1", AS_OF)
    assert (result.verdict, result.reason_code) == ("ineligible", "not-a-candidate")
    assert result.reason == "not a candidate: no record of rectal cancer in the patient's complete problem list"


def test_several_failures_are_counted_in_the_reason() -> None:
    result = decide(atoms(), results("not-met", "met"), ALIVE, "p1", AS_OF)
    assert result.reason == "ineligible: fails inclusion inc-1: inc not-met (+1 more)"


def test_deceased_patient_is_ineligible() -> None:
    dead = {"resourceType": "Patient", "id": "p1", "deceasedDateTime": "2020-11-24T07:21:10+00:00"}
    result = decide(atoms(), results("met", "not-met"), dead, "p1", AS_OF)
    assert result.verdict == "ineligible"
    assert result.reason == "ineligible: deceased on 2020-11-24 (Patient/p1)"
    assert result.reason_code == "deceased"
    assert deceased_reason({"deceasedBoolean": True}, "p1", AS_OF) == "deceased (Patient/p1 deceasedBoolean)"
    assert deceased_reason({"deceasedBoolean": False}, "p1", AS_OF) is None
    # died after "as of": alive then
    assert deceased_reason(dead, "p1", date(2019, 1, 1)) is None
