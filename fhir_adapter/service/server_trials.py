"""The hospital's active trials read back from a FHIR server that ``fhir-adapter push`` wrote them to.

Every ResearchStudy of the server is listed (``_count`` pages, ``next`` links followed); those that carry this
project's business identifier (``http://fhir-adapter.org/fhir/identifier``), are not one site's study (``partOf``
the trial's) and whose registry status is active
(the ``registry-overall-status`` extension; without it, R4 ``status`` or R5 ``progressStatus``) are kept. For each,
the eligibility Group (R4 ``enrollment``; R5 ``recruitment.eligibility``, through the criteria EvidenceVariable) is
read, and a :class:`~fhir_adapter.trial.TrialRecord` is rebuilt from what the server holds: the NCT id, titles, the
registry's conditions (``ResearchStudy.condition`` text), sex, age bounds and healthy volunteers (the Group's
structured characteristics) and the criteria text (the Group's ``eligibility-criteria`` extension, or the R5
EvidenceVariable's description). The criteria are then compiled again from that text: the characteristics a push
writes keep one code per atom, not the whole value set, windows or any-of structure the evaluator needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fhir_adapter.errors import FhirAdapterError, InputError
from fhir_adapter.fhir.client import FhirClient
from fhir_adapter.ingest.text import unescape_markdown
from fhir_adapter.ingest.vocab import age_units
from fhir_adapter.mapping import canonical as C
from fhir_adapter.trial import AgeBound, Eligibility, Intervention, TrialRecord

PAGE_SIZE = 100
SOURCE_FORMAT = "fhir-server"
_R4_ACTIVE = {"active": "RECRUITING", "approved": "NOT_YET_RECRUITING"}
"""R4 ``status`` codes of an active trial, used only when the registry-status extension is missing."""
_SEX = {"female": "FEMALE", "male": "MALE"}

JSON = dict[str, Any]


@dataclass
class ServerTrials:
    """What the server gave: the rebuilt records, and one line per ResearchStudy that was not used."""

    records: list[TrialRecord] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    studies: int = 0
    """ResearchStudies the server listed (pushed by this tool or not)."""
    ours: int = 0
    """Of those, the ones that carry this project's identifier."""


def _studies(client: FhirClient) -> Iterator[JSON]:
    for page in client.search_bundles("ResearchStudy", {"_count": str(PAGE_SIZE)}):
        for entry in page.get("entry") or []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and resource.get("resourceType") == "ResearchStudy":
                yield resource


def _identifier(study: JSON, system: str, *, use: str | None = None) -> str | None:
    for ident in study.get("identifier") or []:
        if not isinstance(ident, dict) or ident.get("system") != system or not isinstance(ident.get("value"), str):
            continue
        if use is None or ident.get("use") == use:
            return str(ident["value"])
    return None


def _extensions(resource: JSON, url: str) -> list[JSON]:
    return [e for e in resource.get("extension") or [] if isinstance(e, dict) and e.get("url") == url]


def _codes(concept: Any) -> list[str]:
    if not isinstance(concept, dict):
        return []
    return [str(c["code"]) for c in concept.get("coding") or [] if isinstance(c, dict) and c.get("code")]


def registry_status(study: JSON) -> str | None:
    """The registry's overall status token (``RECRUITING``), from the extension push writes, else from the
    FHIR status (R4 ``active``/``approved``; R5 ``progressStatus`` ``recruiting``...)."""
    for ext in _extensions(study, C.EXT_REGISTRY_STATUS):
        raw = ext.get("valueString")
        if isinstance(raw, str) and raw.strip():
            return "_".join(raw.replace(",", " ").upper().split())
    if "progressStatus" in study or "recruitment" in study:
        for progress in study.get("progressStatus") or []:
            for code in _codes(progress.get("state") if isinstance(progress, dict) else None):
                if code != "overall-study":
                    return code.upper().replace("-", "_")
        return None
    return _R4_ACTIVE.get(str(study.get("status")), str(study.get("status") or "").upper() or None)


def _reference(value: Any) -> tuple[str, str] | None:
    """``Group/123`` (or an absolute or versioned reference) -> ("Group", "123")."""
    ref = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(ref, str) or ref.startswith(("#", "urn:")):
        return None
    parts = ref.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return (parts[-2], parts[-1]) if len(parts) >= 2 and parts[-2] and parts[-1] else None


def eligibility_target(study: JSON) -> tuple[str, str] | None:
    """Where the study's eligibility lives: the R4 ``enrollment`` Group, or R5 ``recruitment.eligibility``."""
    for ref in study.get("enrollment") or []:
        found = _reference(ref)
        if found and found[0] == "Group":
            return found
    recruitment = study.get("recruitment")
    return _reference(recruitment.get("eligibility")) if isinstance(recruitment, dict) else None


def _age(quantity: Any) -> AgeBound | None:
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        return None
    unit = str(quantity.get("code") or quantity.get("unit") or "a")
    words = {code: word for word, code in reversed(list(age_units().items()))}
    value = float(quantity["value"])
    word = words.get(unit, unit)
    return AgeBound(value=value, unit=unit, raw=f"{value:g} {word.title()}{'' if value == 1 else 's'}")


def eligibility(group: JSON, criteria_text: str | None) -> Eligibility:
    """The structured eligibility fields of a pushed Group, and the criteria text (as the registry wrote it)."""
    raw = criteria_text
    for ext in _extensions(group, C.EXT_ELIGIBILITY_CRITERIA):
        if isinstance(ext.get("valueMarkdown"), str):
            raw = ext["valueMarkdown"]
    found = Eligibility(criteria=unescape_markdown(raw) if raw else None, criteria_raw=raw)
    for item in group.get("characteristic") or []:
        if not isinstance(item, dict) or _extensions(item, C.EXT_CRITERION_ID):
            continue  # a criterion atom: recompiled from the text
        code: JSON = item["code"] if isinstance(item.get("code"), dict) else {}
        name = str(code.get("text") or "")
        if C.AGE_CODE["code"] in _codes(code) or name == "Age":
            span: JSON = item["valueRange"] if isinstance(item.get("valueRange"), dict) else {}
            found.minimum_age, found.maximum_age = _age(span.get("low")), _age(span.get("high"))
        elif name == "Sex":
            sexes = [_SEX[c] for c in _codes(item.get("valueCodeableConcept")) if c in _SEX]
            found.sex = sexes[0] if sexes else None
        elif name == "Accepts healthy volunteers" and isinstance(item.get("valueBoolean"), bool):
            found.healthy_volunteers = item["valueBoolean"]
    return found


def _titles(study: JSON) -> tuple[str | None, str | None]:
    """(official title, acronym): R5 ``label`` by type; R4 ``alternative-title`` extensions, which hold the
    official title then the acronym (either omitted when absent or equal to the brief title)."""
    official = acronym = None
    for label in study.get("label") or []:
        kinds = _codes(label.get("type")) if isinstance(label, dict) else []
        if "official" in kinds:
            official = label.get("value")
        elif "acronym" in kinds:
            acronym = label.get("value")
    values = [e["valueString"] for e in _extensions(study, C.EXT_ALTERNATIVE_TITLE) if e.get("valueString")]
    if len(values) >= 2:
        official, acronym = values[0], values[1]
    elif values:  # one alone: an acronym is one short word
        official, acronym = (values[0], None) if " " in values[0].strip() else (None, values[0])
    return official, acronym


def interventions(study: JSON) -> list[Intervention]:
    """The interventions a pushed ResearchStudy names in ``focus`` (R4 CodeableConcept, R5 CodeableReference), with
    the registry's type the mapping keeps on each (so "hypersensitivity to the study drug" finds the drugs)."""
    found: list[Intervention] = []
    for item in study.get("focus") or []:
        if not isinstance(item, dict):
            continue
        inner = item.get("concept")
        named: JSON = inner if isinstance(inner, dict) else item
        text = named.get("text")
        if not isinstance(text, str) or not text.strip():
            continue
        types = [e.get("valueCode") for e in _extensions(named, C.EXT_INTERVENTION_TYPE)]
        kind = types[0] if types and isinstance(types[0], str) else None
        found.append(Intervention(name=text, type=kind))
    return found


def study_record(study: JSON, group: JSON, criteria_text: str | None, source: str) -> TrialRecord:
    """A TrialRecord with what the criteria compiler reads, rebuilt from a pushed ResearchStudy and its Group."""
    official, acronym = _titles(study)
    conditions = [str(c["text"]) for c in study.get("condition") or [] if isinstance(c, dict) and c.get("text")]
    return TrialRecord(
        source_format=SOURCE_FORMAT,
        source=source,
        nct_id=_identifier(study, C.NCT_SYSTEM, use="official") or _identifier(study, C.NCT_SYSTEM),
        org_study_id=_identifier(study, C.IDENTIFIER_SYSTEM),
        brief_title=study.get("title") if isinstance(study.get("title"), str) else None,
        official_title=official,
        acronym=acronym,
        overall_status=registry_status(study),
        conditions=conditions,
        interventions=interventions(study),
        eligibility=eligibility(group, criteria_text),
    )


def _eligibility_resources(client: FhirClient, study: JSON) -> tuple[JSON, str | None]:
    """The study's eligibility Group, and the criteria text an R5 EvidenceVariable holds (read on the way)."""
    target = eligibility_target(study)
    if target is None:
        raise InputError("no eligibility Group referenced", field="enrollment / recruitment.eligibility")
    found = client.read(*target)
    if target[0] != "EvidenceVariable":
        return found, None
    text = found.get("description") if isinstance(found.get("description"), str) else None
    for item in found.get("characteristic") or []:
        group_ref = _reference(item.get("definitionReference")) if isinstance(item, dict) else None
        if group_ref and group_ref[0] == "Group":
            return client.read(*group_ref), text
    return {"resourceType": "Group"}, text


def server_trials(client: FhirClient, *, active_only: bool = True) -> ServerTrials:
    """The records of the active trials this tool pushed to ``client``'s server (see the module docstring)."""
    out = ServerTrials()
    base = client.base_url
    for study in _studies(client):
        out.studies += 1
        key = _identifier(study, C.IDENTIFIER_SYSTEM)
        if key is None or study.get("partOf"):
            continue  # not pushed by fhir-adapter, or one site of a trial (partOf the trial's study)
        out.ours += 1
        name = f"ResearchStudy/{study.get('id')} ({key})"
        status = registry_status(study)
        if active_only and status is not None and status not in _active_statuses():
            out.skipped.append(f"{name}: not recruiting ({status})")
            continue
        try:
            group, text = _eligibility_resources(client, study)
        except FhirAdapterError as exc:
            out.skipped.append(f"{name}: {exc.one_line()}")
            continue
        out.records.append(study_record(study, group, text, f"{base}/ResearchStudy/{study.get('id')}"))
    return out


def _active_statuses() -> frozenset[str]:
    from fhir_adapter.service.catalog import settings

    return frozenset(settings()["active_statuses"])
