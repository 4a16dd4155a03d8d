"""The public API re-exported from fhir_adapter works end to end on the bundled samples."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import fhir_adapter
from fhir_adapter import LocalData, compile_criteria, load_trial, match, screen, to_bundle

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def test_every_name_in_all_is_importable() -> None:
    assert all(hasattr(fhir_adapter, name) for name in fhir_adapter.__all__)


def test_load_compile_convert_and_screen_the_seed_trial() -> None:
    trial = load_trial(SAMPLES / "NCT06577194.txt")
    criteria = compile_criteria(trial)
    assert criteria.trial == "NCT06577194"
    bundle = to_bundle(trial, "R5", criteria)
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} >= {"ResearchStudy", "Group", "EvidenceVariable"}
    data = LocalData(SAMPLES / "patients" / "data")
    result = screen(criteria, data, as_of=date(2025, 1, 1))
    verdicts = {p.patient: p.verdict for p in result.patients}
    assert verdicts["Patient/smp-eligible"] == "eligible"
    assert verdicts["Patient/smp-pregnant"] == "ineligible"
    one = match(criteria, data, "smp-pregnant", as_of=date(2025, 1, 1))
    assert one.verdict == "ineligible"


def test_match_takes_patient_references_and_iso_dates() -> None:
    """The id screening prints (Patient/X) and an ISO date work as people pass them."""
    import pytest

    from fhir_adapter.errors import InputError

    criteria = compile_criteria(load_trial(SAMPLES / "NCT06577194.txt"))
    data = LocalData(SAMPLES / "patients" / "data")
    by_reference = match(criteria, data, "Patient/smp-eligible", as_of="2025-01-01")
    by_id = match(criteria, data, "smp-eligible", as_of=date(2025, 1, 1))
    assert by_reference.verdict == by_id.verdict == "eligible"
    assert screen(criteria, data, as_of="2025-01-01").as_of == date(2025, 1, 1)
    with pytest.raises(InputError, match="as_of"):
        match(criteria, data, "smp-eligible", as_of="01/01/2025")
