"""The trial's own procedure (criteria/setting.py), with NCT06322316's title and criterion."""

from __future__ import annotations

from fhir_adapter.criteria.compile import compile_trial
from fhir_adapter.criteria.setting import PLANNED_REASON
from fhir_adapter.trial import Eligibility, TrialRecord

CRITERIA = "Inclusion Criteria:\n- Type of surgery; Modified Radical Mastectomy (MRM)\n- Prior mastectomy\n"


def _mastectomy_atoms(title: str) -> list[tuple[str, bool, str | None]]:
    eligibility = Eligibility(criteria=CRITERIA)
    trial = TrialRecord(nct_id="NCT00000000", source_format="ctgov-json", official_title=title, eligibility=eligibility)
    atoms = compile_trial(trial).atoms
    return [(a.text, a.computable, a.reason) for a in atoms if a.concept_key == "procedure.mastectomy"]


def test_the_procedure_a_title_names_as_the_setting_is_planned() -> None:
    atoms = _mastectomy_atoms(
        "Analgesic Efficacy of Ultrasound-guided Retrolaminar Block and Erector Spinae Plane Block in Modified "
        "Radical Mastectomy: A Randomized Controlled Study"
    )
    assert atoms == [
        ("Modified Radical Mastectomy (MRM)", False, PLANNED_REASON),
        ("Prior mastectomy", True, None),  # its own words place it in the past
    ]


def test_a_past_procedure_in_the_title_is_required() -> None:
    for title in ("Scar Pain in Women After Mastectomy", "Exercise for Breast Cancer Survivors"):
        assert all(computable for _, computable, _ in _mastectomy_atoms(title)), title
