"""The seed trial NCT06577194, atom by atom (fake lexicon: the test does not depend on lexicon data)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import FakeLexicon, FakeUnits

from fhir_adapter.criteria.compile import compile_text
from fhir_adapter.criteria.model import Atom

TEXT = (Path(__file__).parent / "data" / "NCT06577194_criteria.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def atoms() -> dict[str, Atom]:
    compiled = compile_text(TEXT, trial_id="NCT06577194", lexicon=FakeLexicon(), units=FakeUnits())
    return {a.concept_key or a.id: a for a in compiled.atoms}


def test_every_atom_text_is_a_substring() -> None:
    compiled = compile_text(TEXT, lexicon=FakeLexicon(), units=FakeUnits())
    assert all(a.text in TEXT for a in compiled.atoms)
    assert len({a.id for a in compiled.atoms}) == len(compiled.atoms)


@pytest.mark.parametrize(
    ("key", "comparator", "value", "unit", "uln"),
    [
        ("performance.ecog", "le", 1, None, None),
        ("lab.neutrophils", "ge", 1.5, "10*9/L", None),
        ("lab.platelets", "ge", 75, "10*9/L", None),
        ("lab.bilirubin-total", "le", None, "umol/L", 1.5),
        ("lab.ast", "le", None, "U/L", 2.5),
        ("lab.alt", "le", None, "U/L", 2.5),
        ("lab.creatinine", "le", None, "umol/L", 1.5),
    ],
)
def test_inclusion_thresholds(
    atoms: dict[str, Atom], key: str, comparator: str, value: float, unit: str, uln: float
) -> None:
    atom = atoms[key]
    assert atom.kind == "inclusion"
    assert atom.computable, atom.reason
    assert (atom.comparator, atom.value, atom.unit, atom.uln_multiple) == (comparator, value, unit, uln)
    assert atom.fhir_query and atom.fhirpath


def test_lab_ids_and_exact_spans(atoms: dict[str, Atom]) -> None:
    assert atoms["lab.neutrophils"].id == "inc-3a"
    assert atoms["lab.neutrophils"].text == "neutrophil count ≥ 1.5×10\\^9/L"
    assert atoms["lab.creatinine"].id == "inc-3f"
    assert atoms["lab.ast"].text == "aspartate aminotransferase ≤ 2.5× UNL"
    assert atoms["lab.neutrophils"].fhir_query == (
        "Observation?patient={{%patient.id}}&code=http://loinc.org|751-8,http://loinc.org|26499-4&_sort=-date"
    )


def test_rectal_adenocarcinoma(atoms: dict[str, Atom]) -> None:
    atom = atoms["condition.rectal-adenocarcinoma"]
    assert (atom.id, atom.kind, atom.comparator, atom.computable) == ("inc-2", "inclusion", "present", True)
    assert "startsWith('C20')" in (atom.fhirpath or "")


@pytest.mark.parametrize(
    "key",
    [
        "condition.bleeding",
        "medication.antineoplastics",
        "condition.autoimmune-disease",
        "medication.corticosteroids",
        "medication.immunosuppressants",
        "condition.ild",
        "condition.pneumonitis",
        "medication.pd1-pdl1-inhibitors",
        "medication.ctla4-inhibitors",
        "condition.pregnancy",
        "condition.breastfeeding",
        "condition.hiv",
    ],
)
def test_computable_exclusions(atoms: dict[str, Atom], key: str) -> None:
    atom = atoms[key]
    assert atom.kind == "exclusion"
    assert atom.comparator == "present"
    assert atom.computable, atom.reason
    assert atom.fhirpath and atom.fhirpath.endswith(".exists()")


def test_other_malignancy_excludes_colorectal(atoms: dict[str, Atom]) -> None:
    atom = atoms["condition.malignancy"]
    assert atom.excluded_concept_key == "condition.colorectal-cancer"
    assert atom.computable
    assert "startsWith('C18')" in (atom.fhirpath or "") and ".empty()" in (atom.fhirpath or "")


def test_uncontrolled_and_recurrent_are_residues(atoms: dict[str, Atom]) -> None:
    """The finding stays computable; the word that narrows it is confirmed by a person when it is found."""
    for key in ("condition.diabetes", "condition.hypertension"):
        assert atoms[key].qualifiers == ["uncontrolled"] and atoms[key].computable
        assert [(r.text, r.effect) for r in atoms[key].residues] == [("uncontrolled", "narrows")]
        assert atoms[key].residues[0].reason == "'uncontrolled' is not recorded in coded data"
    recurrent = atoms["condition.rectal-cancer"]
    assert "recurrent" in recurrent.qualifiers
    assert any("recurrent" in r.reason for r in recurrent.residues) or not recurrent.computable


def test_reasons_for_toxicity_and_allergy(atoms: dict[str, Atom]) -> None:
    assert atoms["exc-7"].reason == "toxicity grade (CTCAE) is not coded in EHR data"
    assert atoms["exc-11"].category == "allergy"
    assert atoms["exc-11"].reason == "drug allergy to trial drugs is not coded"


def test_pregnancy_and_breastfeeding_are_two_atoms(atoms: dict[str, Atom]) -> None:
    assert (atoms["condition.pregnancy"].id, atoms["condition.breastfeeding"].id) == ("exc-9a", "exc-9b")
    assert atoms["condition.hiv"].id == "exc-10"


def test_seed_with_the_project_lexicon() -> None:
    """The real lexicon and unit tables (the lexicon helper's data): the core atoms are computable."""
    from fhir_adapter import terminology

    if not hasattr(terminology, "lexicon"):
        pytest.skip("project lexicon not installed")
    compiled = compile_text(TEXT, trial_id="NCT06577194")
    by_key = {a.concept_key: a for a in compiled.atoms if a.concept_key}
    for key in (
        "performance.ecog",
        "condition.rectal-adenocarcinoma",
        "lab.neutrophils",
        "lab.platelets",
        "lab.ast",
        "lab.alt",
        "lab.creatinine",
        "condition.hiv",
        "condition.pregnancy",
        "condition.breastfeeding",
        "condition.interstitial-lung-disease",
        "condition.autoimmune-disease",
    ):
        assert key in by_key and by_key[key].computable, (key, by_key.get(key))
    assert by_key["lab.neutrophils"].value == 1.5 and by_key["lab.neutrophils"].unit == "10*9/L"
