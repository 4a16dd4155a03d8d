"""The trial's index conditions: inclusion diagnoses related to the registry's conditions list."""

from __future__ import annotations

from fhir_adapter.criteria.index import listed_concepts, mark_index_conditions, trial_conditions
from fhir_adapter.criteria.model import Atom
from fhir_adapter.terminology import lexicon


def _diagnosis(aid: str, key: str, **extra: object) -> Atom:
    fields: dict[str, object] = {"comparator": "present", "computable": True, **extra}
    return Atom(id=aid, kind="inclusion", text=key, category="condition", concept_key=key, **fields)  # type: ignore[arg-type]


def _index(atoms: list[Atom], conditions: list[str]) -> list[str]:
    return [a.id for a in mark_index_conditions(atoms, conditions, lexicon()) if a.index]


def test_the_listed_condition_and_a_histology_of_its_site_are_index_conditions() -> None:
    atoms = [
        _diagnosis("inc-1", "condition.rectal-adenocarcinoma"),  # site code C20 = rectal cancer's code
        _diagnosis("inc-2", "condition.hypertension"),  # a required diagnosis, but not what the trial is for
        Atom(id="inc-3", kind="inclusion", text="ANC", category="lab", computable=True),
    ]
    assert _index(atoms, ["Rectal Cancer"]) == ["inc-1"]
    assert _index(atoms, ["Locally Advanced Rectal Cancer", "Hypertension"]) == ["inc-1", "inc-2"]


def test_no_listed_condition_the_lexicon_knows_means_no_index_condition() -> None:
    atoms = [_diagnosis("inc-1", "condition.breast-cancer")]
    assert _index(atoms, ["Healthy Volunteers"]) == []
    assert _index(atoms, []) == []


def test_negated_exclusion_suspected_and_non_computable_atoms_are_never_index_conditions() -> None:
    atoms = [
        _diagnosis("inc-1", "condition.breast-cancer", negated=True),
        _diagnosis("inc-2", "condition.breast-cancer", qualifiers=["suspected"]),
        _diagnosis("inc-3", "condition.breast-cancer", computable=False),
        _diagnosis("exc-1", "condition.breast-cancer").model_copy(update={"kind": "exclusion"}),
        _diagnosis("inc-4", "condition.breast-cancer", comparator="absent"),
    ]
    assert _index(atoms, ["Breast Cancer"]) == []


def test_any_of_groups_count_whole_and_only_when_every_member_is_a_diagnosis() -> None:
    either = [
        _diagnosis("inc-1a", "condition.breast-cancer", any_of="g1"),
        _diagnosis("inc-1b", "condition.ovarian-cancer", any_of="g1"),  # not listed, but a diagnosis
    ]
    assert _index(either, ["Breast Cancer"]) == ["inc-1a", "inc-1b"]
    with_lab = [
        _diagnosis("inc-1a", "condition.breast-cancer", any_of="g1"),
        Atom(id="inc-1b", kind="inclusion", text="HbA1c", category="lab", computable=True, any_of="g1"),
    ]
    assert _index(with_lab, ["Breast Cancer"]) == []


def test_titles_stand_in_when_the_record_lists_no_condition() -> None:
    assert trial_conditions([], ["Short-course RT for Locally Advanced Rectal Cancer", None]) == [
        "Short-course RT for Locally Advanced Rectal Cancer"
    ]
    assert trial_conditions(["Asthma"], ["A trial of X"]) == ["Asthma"]
    assert [c.key for c in listed_concepts(["Asthma"], lexicon())] == ["condition.asthma"]


def test_a_basket_trial_marks_every_listed_tumour() -> None:
    atoms = [
        _diagnosis("inc-2", "condition.ovarian-cancer", cohort="A"),
        _diagnosis("inc-3", "condition.endometrial-cancer", cohort="B"),
    ]
    assert _index(atoms, ["Ovarian Cancer", "Endometrial Cancer"]) == ["inc-2", "inc-3"]


def test_an_alternative_known_in_one_code_system_only_leaves_the_trial_without_index_conditions() -> None:
    """Comedo carcinoma (a DCIS) is known here by its SNOMED CT code only: a problem list coding it in ICD-10
    (D05.1) would look empty, and "not a candidate" would be wrong. As the index conditions are alternatives, the
    trial then has none."""
    either = [
        _diagnosis("inc-1a", "condition.breast-cancer", any_of="g1"),
        _diagnosis("inc-1b", "condition.comedo-carcinoma", any_of="g1"),
    ]
    assert _index(either, ["Breast Cancer"]) == []
    assert _index([_diagnosis("inc-1", "condition.breast-cancer")], ["Breast Cancer"]) == ["inc-1"]
