"""Results of matching patients against compiled criteria, and the data-source interface.

The JSON shapes produced by :meth:`PatientResult.contract` and :meth:`ScreenResult.contract`
are a public contract (other tools rely on them).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_serializer,
)

AtomOutcome = Literal["met", "not-met", "unknown", "review"]
Verdict = Literal["eligible", "ineligible", "needs-review"]
ReasonCode = Literal["eligible", "needs-review", "not-a-candidate", "inclusion-not-met", "exclusion-met", "deceased"]
"""Why the verdict is what it is (meanings in ``mappings/words.yaml``): ``not-a-candidate`` is an ineligible
patient with no record of the trial's condition on a complete problem list."""


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str
    """``Observation/<id>`` etc."""
    value: float | str | None = None
    unit: str | None = None
    """Unit after normalisation (the atom's unit)."""
    date: str | None = None
    reference_range: str | None = None
    """The Observation's reference range as written for people ("3.5–5.1 mmol/L", "≤ 1.2 mg/dL")."""


class AtomResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    result: AtomOutcome
    reason: str
    evidence: list[Evidence] = Field(default_factory=list)
    label: str | None = None
    """What the criterion is about, for people ("absolute neutrophil count", "age")."""
    need: str | None = None
    """For an unknown result: what to obtain to decide it ("total bilirubin with reference range")."""

    def contract(self) -> dict[str, Any]:
        values = [e.model_dump(exclude_none=True) for e in self.evidence if e.value is not None]
        return {
            "id": self.id,
            "result": self.result,
            "reason": self.reason,
            "evidence": [e.reference for e in self.evidence],
            **({"values": values} if values else {}),
            **({"need": self.need} if self.need else {}),
        }


class PatientResult(BaseModel):
    """One patient's result: the verdict (eligible, ineligible, needs-review) with its reason and reason code, the
    open items and the atoms to confirm, and every criterion's result with its evidence; ``contract()`` is one
    entry of the JSON ``patients`` list."""

    model_config = ConfigDict(extra="forbid")

    patient: str
    """``Patient/<id>``."""
    verdict: Verdict
    reason: str
    """One line for people: the decisive criterion and why (or what is open)."""
    reason_code: ReasonCode = "needs-review"
    open_items: list[str] = Field(default_factory=list)
    """For needs-review: what to obtain, one entry per undecided criterion ("ECOG performance status")."""
    to_confirm: list[str] = Field(default_factory=list)
    criteria: list[AtomResult] = Field(default_factory=list)
    cohorts: list[str] = Field(default_factory=list)
    """For a trial with cohorts: the cohorts the verdict holds for (eligible for at least one)."""

    def contract(self, criterion: Callable[[AtomResult], Any] = AtomResult.contract) -> dict[str, Any]:
        """``criterion`` gives each criterion's entry (the JSON writer passes one that reuses shared texts)."""
        return {
            "patient": self.patient,
            "verdict": self.verdict,
            "reason_code": self.reason_code,
            "reason": self.reason,
            "open_items": list(self.open_items),
            "to_confirm": list(self.to_confirm),
            "criteria": [criterion(c) for c in self.criteria],
            **({"cohorts": list(self.cohorts)} if self.cohorts else {}),
        }


def _kept_as_is(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Results spilled to disk are taken as they are (validating would read them all back into memory)."""
    from fhir_adapter.matching.spill import SpilledPatients

    return value if isinstance(value, SpilledPatients) else handler(value)


class ScreenResult(BaseModel):
    """The results of one trial's screening as of a date, best first; ``contract()`` is the JSON that
    ``fhir-adapter screen --format json`` and ``match --format json`` print."""

    model_config = ConfigDict(extra="forbid")

    trial: str
    as_of: date
    patients: Annotated[Sequence[PatientResult], WrapValidator(_kept_as_is)] = Field(default_factory=list)
    """A list, or for a large screen the results on disk (:class:`~fhir_adapter.matching.spill.SpilledPatients`),
    read one by one as they are iterated: use it as a read-only sequence."""

    @field_serializer("patients")
    def _every_patient(self, patients: Sequence[PatientResult]) -> list[PatientResult]:
        """``model_dump`` of a spilled screen reads every result (the writers stream them: ``contract_json``)."""
        return list(patients)

    def contract(self) -> dict[str, Any]:
        return {
            "trial": self.trial,
            "as_of": self.as_of.isoformat(),
            "patients": [p.contract() for p in self.patients],
        }

    def contract_json(self) -> Iterator[str]:
        """:meth:`contract` as indented JSON, patient by patient: the text of ``json.dumps(contract(), indent=2,
        ensure_ascii=False)``, without ever holding a million-patient report as one object or string."""
        head = {"trial": self.trial, "as_of": self.as_of.isoformat()}
        yield "{\n" + "".join(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},\n" for k, v in head.items())
        if not self.patients:
            yield '  "patients": []\n}'
            return
        from fhir_adapter.matching.contract_text import patients_text

        yield '  "patients": [\n'
        yield from patients_text(self.patients, len(self.patients))
        yield "  ]\n}"


class MatchOptions(BaseModel):
    """Knobs of the evaluation; the defaults come from ``mappings/matching.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    open_world_diagnosis: bool = False
    """Keep the trial's index condition unknown when it is not documented, even when the source returned the
    patient's problem list completely (for sources known to be incomplete)."""
    recency_days: int | None = Field(default=None, ge=0)
    """Window for labs, performance status and pregnancy tests (an atom's ``within_days`` wins).
    ``None`` uses the per-category defaults of ``matching.yaml`` (90 days for labs and ECOG)."""


class PatientData(Protocol):
    """What the evaluator asks of a data source; local files and a FHIR server both answer it.

    The evaluator asks each (patient, resource type) once per patient and filters codes itself
    (class membership uses code prefixes and drug names, which a server code search cannot express).
    """

    def patient(self, patient_id: str) -> dict[str, Any] | None:
        """The Patient resource, or None when the source has no such patient."""
        ...

    def resources(self, patient_id: str, resource_type: str) -> Sequence[dict[str, Any]]:
        """Every resource of ``resource_type`` whose subject/patient is the patient."""
        ...

    def patient_ids(self) -> Iterable[str]:
        """Ids of every patient the source holds (the population of a screen)."""
        ...

    def resolve(self, reference: str) -> dict[str, Any] | None:
        """A referenced resource not tied to one patient (``Medication/<id>``), or None."""
        ...


def retrieved_completely(data: object, resource_type: str) -> bool:
    """Whether ``data`` returned every resource of the type for its patients (a source may say so with a
    ``complete(resource_type) -> bool`` method; one that does not is treated as possibly incomplete)."""
    complete = getattr(data, "complete", None)
    return bool(complete(resource_type)) if callable(complete) else False
