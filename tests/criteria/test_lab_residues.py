"""A lab threshold that is not the lab's value: a change in the measurement ("change in weight of more than 5 kg")
is left for review. Sentences from the Chia benchmark and the corpus, or written the way their criteria are."""

from __future__ import annotations

import pytest

from fhir_adapter.criteria.compile import compile_text


@pytest.mark.parametrize(
    ("item", "key", "change"),
    [
        # Chia NCT03338296: the exclusion was "body weight > 5 kg", which every adult meets
        (
            "Significant change in diet or level of physical activity within 1 month before dosing or change in weight "
            "of more than 5 kg",
            "lab.body-weight",
            "change in",
        ),
        ("An increase in serum creatinine of >= 0.3 mg/dL within 48 hours", "lab.creatinine", "increase in"),
        ("Weight gain > 5 kg in the last 3 months", "lab.body-weight", "gain"),
        ("Serum creatinine increase of more than 0.5 mg/dl", "lab.creatinine", "increase"),
        ("eGFR decline of more than 30% over 12 months", "lab.egfr", "decline"),
    ],
)
def test_a_change_in_a_measurement_is_not_its_value(item: str, key: str, change: str) -> None:
    atom = next(a for a in compile_text(f"Exclusion Criteria:\n* {item}\n").atoms if a.concept_key == key)
    assert not atom.computable
    assert atom.reason == f"'{change}': a change in the measurement is not its value, not compared"


def test_a_raised_value_is_still_the_value() -> None:
    """ "ALT increased" is the CTCAE name of a raised ALT: the threshold is its value."""
    atom = compile_text("Exclusion Criteria:\n* ALT increased > 3 x ULN\n").atoms[0]
    assert (atom.computable, atom.concept_key, atom.comparator, atom.uln_multiple) == (True, "lab.alt", "gt", 3.0)
