from __future__ import annotations

from fhir_adapter.mapping.interventions import components, procedure_coding, strip_type_prefix


def names(text: str) -> list[str]:
    return [c.lookup_name for c in components(text)]


def test_combination_with_regimen_expands_to_every_agent() -> None:
    assert names("Sintilimab + IL-2 Combined with CAPOX") == [
        "Sintilimab",
        "aldesleukin",
        "capecitabine",
        "oxaliplatin",
    ]


def test_regimen_aliases_and_separators() -> None:
    assert names("XELOX") == ["capecitabine", "oxaliplatin"]
    assert names("CapeOX plus bevacizumab") == ["capecitabine", "oxaliplatin", "bevacizumab"]
    assert names("FOLFIRINOX") == ["leucovorin", "fluorouracil", "irinotecan", "oxaliplatin"]
    assert names("Drug A, Drug B and Drug C") == ["Drug A", "Drug B", "Drug C"]


def test_single_agent_is_one_component_and_regimen_is_recorded() -> None:
    assert names("Pembrolizumab") == ["Pembrolizumab"]
    assert components("FOLFOX")[0].regimen == "folfox"


def test_duplicate_agents_are_listed_once() -> None:
    assert names("CAPOX + capecitabine") == ["capecitabine", "oxaliplatin"]


def test_type_prefix_of_arm_intervention_names() -> None:
    assert strip_type_prefix("Drug: Capecitabine") == "Capecitabine"
    assert strip_type_prefix("Radiation: SBRT") == "SBRT"


def test_procedure_coding_for_radiotherapy_names() -> None:
    coding = procedure_coding("Short-course radiotherapy")
    assert coding is not None and coding["code"] == "108290001"
    assert procedure_coding("Stereotactic radiation therapy") is not None
    assert procedure_coding("Questionnaire") is None
