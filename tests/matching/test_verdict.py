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
    assert result.reason == "ineligible: exc-1 HIV met"


def test_inclusion_not_met_is_ineligible_even_with_unknowns() -> None:
    result = decide(atoms(), results("not-met", "unknown"), ALIVE, "p1", AS_OF)
    assert result.verdict == "ineligible"
    assert result.reason == "ineligible: inc-1 inc not-met"


def test_unknown_without_failure_needs_review() -> None:
    result = decide(atoms(), results("unknown", "not-met"), ALIVE, "p1", AS_OF)
    assert result.verdict == "needs-review"
    assert result.reason == "needs-review: inc-1 inc unknown"


def test_several_failures_are_counted_in_the_reason() -> None:
    result = decide(atoms(), results("not-met", "met"), ALIVE, "p1", AS_OF)
    assert result.reason == "ineligible: inc-1 inc not-met; +1 more"


def test_deceased_patient_is_ineligible() -> None:
    dead = {"resourceType": "Patient", "id": "p1", "deceasedDateTime": "2020-11-24T07:21:10+00:00"}
    result = decide(atoms(), results("met", "not-met"), dead, "p1", AS_OF)
    assert result.verdict == "ineligible"
    assert result.reason == "ineligible: deceased on 2020-11-24 (Patient/p1)"
    assert deceased_reason({"deceasedBoolean": True}, "p1", AS_OF) == "deceased (Patient/p1 deceasedBoolean)"
    assert deceased_reason({"deceasedBoolean": False}, "p1", AS_OF) is None
    # died after "as of": alive then
    assert deceased_reason(dead, "p1", date(2019, 1, 1)) is None
