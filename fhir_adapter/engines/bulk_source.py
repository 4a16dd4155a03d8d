"""A population from a FHIR server's Bulk Data export, limited to what one trial's atoms read.

:func:`bulk_request` turns the declared retrieval (:mod:`fhir_adapter.matching.retrieval`) into the export's
``_type`` (the Patient, the whole types, the referenced Medications) and ``_typeFilter`` (Observations with the
atoms' codes). A server that does not apply ``_typeFilter`` sends every Observation: the engines filter by code
themselves, so the verdicts are the same, only the download is larger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from fhir_adapter.criteria.model import Atom
from fhir_adapter.matching.record import EvalContext
from fhir_adapter.matching.retrieval import needed_types, observation_codes, retrieval_for


@dataclass(frozen=True)
class BulkRequest:
    types: tuple[str, ...]
    type_filters: tuple[str, ...]


def bulk_request(atoms: Sequence[Atom], context: EvalContext) -> BulkRequest:
    """The ``_type`` and ``_typeFilter`` of an export holding exactly the evidence the atoms read."""
    retrieval = retrieval_for(atoms, context)
    types = ("Patient", *retrieval.types, *retrieval.shared_types)
    filters: list[str] = []
    if "Observation" in needed_types(atoms):
        tokens = observation_codes(atoms, context)
        if tokens:
            filters.append("Observation?" + urlencode({"code": ",".join(tokens)}, safe="|,:/"))
    return BulkRequest(types=tuple(dict.fromkeys(types)), type_filters=tuple(filters))
