"""The fast JSON report writer gives exactly the text of ``json.dumps(..., indent=2, ensure_ascii=False)``."""

from __future__ import annotations

import json
from datetime import date

import pytest

from fhir_adapter.matching import contract_text
from fhir_adapter.matching.contract_text import indented
from fhir_adapter.matching.model import AtomResult, Evidence, PatientResult, ScreenResult

VALUES: list[object] = [
    {},
    [],
    {"a": [], "b": {}, "c": [{}], "d": [[], [1, 2.5, -0.0, 1e300, 10**20]]},
    {"text": 'quote " backslash \\ newline \n tab \t control \x01 unicode é ≥ 𝔘 \u2028'},
    {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "t": True, "f": False, "n": None},
    [{"values": [{"reference": "Observation/1", "value": 1.0, "unit": "mg/dL"}]}, "x", 3],
    {1: "int key", 2.5: "float key", False: "bool key", None: "none key"},
]


@pytest.mark.parametrize("value", VALUES)
def test_indented_is_json_dumps(value: object) -> None:
    assert indented(value) == json.dumps(value, indent=2, ensure_ascii=False)
    nested = json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n    ")
    assert indented(value, "    ") == nested


def test_indented_rejects_what_json_rejects() -> None:
    with pytest.raises(TypeError):
        indented({"a": object()})
    with pytest.raises(TypeError):
        indented({(1, 2): "tuple key"})


def _patients() -> list[PatientResult]:
    shared = AtomResult(id="a2", result="unknown", reason="not evaluated: not a candidate", label="ANC")
    patients = []
    for n in range(7):
        criteria = [
            AtomResult(id="a1", result="met", reason=f"age {n} ≥ 18", label="age",
                       evidence=[Evidence(reference=f"Patient/p{n}", value=float(n) if n else float("nan"),
                                          unit="a", date="2026-02-01")]),
            shared,
            AtomResult(id="a3", result="unknown", reason="no value", need="bilirubin \"total\""),
        ]
        patients.append(PatientResult(
            patient=f"Patient/p{n}", verdict="needs-review", reason="needs-review: needs ANC", open_items=["ANC"],
            to_confirm=[], criteria=criteria, cohorts=["A", "B"] if n % 2 else [],
        ))
    return patients


@pytest.mark.parametrize("per_chunk", [1, 3, 500])
def test_contract_json_is_the_indented_contract(monkeypatch: pytest.MonkeyPatch, per_chunk: int) -> None:
    monkeypatch.setattr(contract_text, "PATIENTS_PER_CHUNK", per_chunk)
    result = ScreenResult(trial="NCT0", as_of=date(2026, 2, 1), patients=_patients())
    chunks = list(result.contract_json())
    assert "".join(chunks) == json.dumps(result.contract(), indent=2, ensure_ascii=False)
    assert len(chunks) == 3 + -(-7 // per_chunk)  # head, "patients": [, the chunks, the end


def test_shared_criteria_are_rendered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = AtomResult.contract

    def counted(self: AtomResult) -> dict[str, object]:
        calls.append(self.id)
        return original(self)

    monkeypatch.setattr(AtomResult, "contract", counted)
    "".join(ScreenResult(trial="NCT0", as_of=date(2026, 2, 1), patients=_patients()).contract_json())
    assert calls.count("a2") == 1  # the shared result (no evidence), once for 7 patients
    assert calls.count("a1") == 7  # results with evidence are the patient's own
