"""ClinicalTrials.gov API v2 study JSON -> :class:`TrialRecord`.

Every value is type-checked on the way in: a wrong type raises :class:`InputError` naming the
file and the JSON path (``protocolSection.designModule.enrollmentInfo.count``). Missing modules
leave their fields empty. Unknown enum tokens are kept and reported in ``warnings``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fhir_adapter.errors import InputError
from fhir_adapter.ingest.ctgov_json_results import read_results
from fhir_adapter.ingest.text import check_partial_date, parse_age, parse_field, unescape_markdown
from fhir_adapter.ingest.vocab import is_token, unknown_token_warning
from fhir_adapter.trial import (
    AgeBound,
    Arm,
    Design,
    Eligibility,
    GeoPoint,
    Intervention,
    IpdSharing,
    Link,
    Location,
    MeshTerm,
    Organization,
    Outcome,
    Oversight,
    PartialDate,
    Person,
    Reference,
    SecondaryId,
    TrialRecord,
)

FORMAT = "ctgov-json"
JsonObject = dict[str, Any]
_T = TypeVar("_T")


def is_study(data: Any) -> bool:
    return isinstance(data, dict) and "protocolSection" in data


def studies_in_document(data: Any, source: str) -> list[tuple[str, Any]]:
    """The studies of one JSON document as ``(path prefix, study)`` pairs.

    Accepts a single study, a ``/studies`` page (``{"studies": [...]}``) or a list of studies.
    """
    if is_study(data):
        return [("", data)]
    if isinstance(data, dict) and isinstance(data.get("studies"), list):
        return [(f"studies[{index}].", study) for index, study in enumerate(data["studies"])]
    if isinstance(data, list) and data and all(is_study(item) for item in data):
        return [(f"[{index}].", study) for index, study in enumerate(data)]
    raise InputError("not a ClinicalTrials.gov study (no protocolSection, no studies list)", source=source)


def iter_ndjson(text: str, source: str) -> Iterator[TrialRecord | InputError]:
    """One study per non-blank line; a bad line yields its error and the next lines go on."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        line_source = f"{source}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield InputError(f"malformed JSON: {exc.msg} (column {exc.colno})", source=line_source)
            continue
        except RecursionError:
            yield InputError("JSON nested too deeply", source=line_source)
            continue
        yield from iter_document(data, line_source)


def iter_document(data: Any, source: str) -> Iterator[TrialRecord | InputError]:
    try:
        studies = studies_in_document(data, source)
    except InputError as exc:
        yield exc
        return
    for prefix, study in studies:
        try:
            yield parse_study(study, source, prefix)
        except InputError as exc:
            yield exc


def parse_study(study: Any, source: str, prefix: str = "") -> TrialRecord:
    """One API v2 study object -> TrialRecord (InputError on anything not shaped like a study)."""
    reader = _Reader(source, prefix)
    root = reader.root(study)
    protocol = reader.obj(root, "protocolSection", required=True)
    derived = reader.obj(root, "derivedSection")
    record = TrialRecord(source_format=FORMAT, source=source)
    _read_identification(reader, reader.obj(protocol, "identificationModule"), record)
    _read_status(reader, reader.obj(protocol, "statusModule"), record)
    _read_sponsors(reader, reader.obj(protocol, "sponsorCollaboratorsModule"), record)
    _read_description(reader, reader.obj(protocol, "descriptionModule"), record)
    _read_conditions(reader, reader.obj(protocol, "conditionsModule"), record)
    _read_design(reader, reader.obj(protocol, "designModule"), record)
    _read_arms(reader, reader.obj(protocol, "armsInterventionsModule"), record)
    _read_outcomes(reader, reader.obj(protocol, "outcomesModule"), record)
    record.eligibility = _read_eligibility(reader, reader.obj(protocol, "eligibilityModule"))
    _read_contacts(reader, reader.obj(protocol, "contactsLocationsModule"), record)
    _read_references(reader, reader.obj(protocol, "referencesModule"), record)
    record.oversight = _read_oversight(reader, reader.obj(protocol, "oversightModule"))
    record.ipd_sharing = _read_ipd_sharing(reader, reader.obj(protocol, "ipdSharingStatementModule"))
    record.has_results = reader.boolean(root, "hasResults")
    record.results = read_results(reader, reader.obj(root, "resultsSection"))
    record.condition_mesh_terms = _read_meshes(reader, reader.obj(derived, "conditionBrowseModule"))
    record.intervention_mesh_terms = _read_meshes(reader, reader.obj(derived, "interventionBrowseModule"))
    record.warnings = reader.warnings
    return record


@dataclass
class _Obj:
    """A JSON object with the path it was found at."""

    data: JsonObject
    path: str

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key


@dataclass
class _Reader:
    """Typed access to a study's JSON; every failure names the file and the JSON path."""

    source: str
    prefix: str = ""
    warnings: list[str] = field(default_factory=list)

    def fail(self, path: str, expected: str, value: Any) -> InputError:
        shown = json.dumps(value, ensure_ascii=False, default=str)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return InputError(f"expected {expected}, got {shown}", source=self.source, field=self.prefix + path)

    def root(self, value: Any) -> _Obj:
        if not isinstance(value, dict):
            raise InputError("a study must be a JSON object", source=self.source, field=self.prefix or None)
        return _Obj(value, "")

    def obj(self, parent: _Obj, key: str, *, required: bool = False) -> _Obj:
        path = parent.at(key)
        value = parent.data.get(key)
        if value is None:
            if required:
                raise InputError("missing", source=self.source, field=self.prefix + path)
            return _Obj({}, path)
        if not isinstance(value, dict):
            raise self.fail(path, "an object", value)
        return _Obj(value, path)

    def objs(self, parent: _Obj, key: str) -> list[_Obj]:
        path = parent.at(key)
        items = self._list(parent, key)
        result = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise self.fail(f"{path}[{index}]", "an object", item)
            result.append(_Obj(item, f"{path}[{index}]"))
        return result

    def _list(self, parent: _Obj, key: str) -> list[Any]:
        value = parent.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(parent.at(key), "a list", value)
        return value

    def text(self, parent: _Obj, key: str) -> str | None:
        value = parent.data.get(key)
        if value is None or isinstance(value, str):
            return value
        raise self.fail(parent.at(key), "a string", value)

    def required_text(self, parent: _Obj, key: str) -> str:
        value = self.text(parent, key)
        if value is None:
            raise InputError("missing", source=self.source, field=self.prefix + parent.at(key))
        return value

    def texts(self, parent: _Obj, key: str) -> list[str]:
        items = self._list(parent, key)
        for index, item in enumerate(items):
            if not isinstance(item, str):
                raise self.fail(f"{parent.at(key)}[{index}]", "a string", item)
        return list(items)

    def integer(self, parent: _Obj, key: str) -> int | None:
        value = parent.data.get(key)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise self.fail(parent.at(key), "an integer", value)

    def number(self, parent: _Obj, key: str) -> float:
        value = parent.data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise self.fail(parent.at(key), "a number", value)

    def boolean(self, parent: _Obj, key: str) -> bool | None:
        value = parent.data.get(key)
        if value is None or isinstance(value, bool):
            return value
        raise self.fail(parent.at(key), "true or false", value)

    def token(self, parent: _Obj, key: str, enum: str) -> str | None:
        value = self.text(parent, key)
        if value is not None:
            self.check_token(parent.at(key), value, enum)
        return value

    def tokens(self, parent: _Obj, key: str, enum: str) -> list[str]:
        values = self.texts(parent, key)
        for index, value in enumerate(values):
            self.check_token(f"{parent.at(key)}[{index}]", value, enum)
        return values

    def check_token(self, path: str, value: str, enum: str) -> None:
        if not is_token(enum, value):
            self.warnings.append(unknown_token_warning(self.prefix + path, value))

    def date(self, parent: _Obj, key: str) -> str | None:
        return self._parsed(check_partial_date, parent, key)

    def date_struct(self, parent: _Obj, key: str) -> PartialDate | None:
        struct = self.obj(parent, key)
        date = self.date(struct, "date")
        if date is None:
            return None
        date_type = self.text(struct, "type")
        if date_type not in (None, "ACTUAL", "ESTIMATED"):
            raise self.fail(struct.at("type"), "ACTUAL or ESTIMATED", date_type)
        return PartialDate(date=date, type=date_type)

    def age(self, parent: _Obj, key: str) -> AgeBound | None:
        return self._parsed(parse_age, parent, key)

    def _parsed(self, parse: Callable[[str], _T], parent: _Obj, key: str) -> _T | None:
        return parse_field(parse, self.text(parent, key), source=self.source, field=self.prefix + parent.at(key))


def _read_identification(reader: _Reader, module: _Obj, record: TrialRecord) -> None:
    record.nct_id = reader.text(module, "nctId")
    record.nct_id_aliases = reader.texts(module, "nctIdAliases")
    record.org_study_id = reader.text(reader.obj(module, "orgStudyIdInfo"), "id")
    record.secondary_ids = [
        SecondaryId(
            id=reader.required_text(info, "id"),
            type=reader.token(info, "type", "secondary_id_type"),
            domain=reader.text(info, "domain"),
            link=reader.text(info, "link"),
        )
        for info in reader.objs(module, "secondaryIdInfos")
    ]
    record.brief_title = reader.text(module, "briefTitle")
    record.official_title = reader.text(module, "officialTitle")
    record.acronym = reader.text(module, "acronym")


def _read_status(reader: _Reader, module: _Obj, record: TrialRecord) -> None:
    record.overall_status = reader.token(module, "overallStatus", "overall_status")
    record.overall_status_raw = record.overall_status
    record.last_known_status = reader.token(module, "lastKnownStatus", "overall_status")
    record.why_stopped = reader.text(module, "whyStopped")
    record.status_verified_date = reader.date(module, "statusVerifiedDate")
    last_update = reader.date_struct(module, "lastUpdatePostDateStruct")
    record.last_update_date = last_update.date if last_update else reader.date(module, "lastUpdateSubmitDate")
    record.last_update_posted = last_update
    record.first_posted_date = reader.date_struct(module, "studyFirstPostDateStruct")
    record.results_first_posted_date = reader.date_struct(module, "resultsFirstPostDateStruct")
    record.results_first_submitted_date = reader.date(module, "resultsFirstSubmitDate")
    record.start_date = reader.date_struct(module, "startDateStruct")
    record.primary_completion_date = reader.date_struct(module, "primaryCompletionDateStruct")
    record.completion_date = reader.date_struct(module, "completionDateStruct")


def _organization(reader: _Reader, node: _Obj) -> Organization:
    return Organization(
        name=reader.required_text(node, "name"), agency_class=reader.token(node, "class", "agency_class")
    )


def _read_sponsors(reader: _Reader, module: _Obj, record: TrialRecord) -> None:
    lead = reader.obj(module, "leadSponsor")
    record.lead_sponsor = _organization(reader, lead) if lead.data else None
    record.collaborators = [_organization(reader, node) for node in reader.objs(module, "collaborators")]
    party = reader.obj(module, "responsibleParty")
    if party.data:
        record.responsible_party = Person(
            name=reader.text(party, "investigatorFullName"),
            role=reader.token(party, "type", "responsible_party_type"),
            title=reader.text(party, "investigatorTitle"),
            affiliation=reader.text(party, "investigatorAffiliation"),
        )


def _read_description(reader: _Reader, module: _Obj, record: TrialRecord) -> None:
    record.brief_summary = reader.text(module, "briefSummary")
    record.detailed_description = reader.text(module, "detailedDescription")


def _read_conditions(reader: _Reader, module: _Obj, record: TrialRecord) -> None:
    record.conditions = reader.texts(module, "conditions")
    record.keywords = reader.texts(module, "keywords")


def _read_design(reader: _Reader, module: _Obj, record: TrialRecord) -> None:
    record.study_type = reader.token(module, "studyType", "study_type")
    record.phases = reader.tokens(module, "phases", "phase")
    info = reader.obj(module, "designInfo")
    masking = reader.obj(info, "maskingInfo")
    record.design = Design(
        allocation=reader.token(info, "allocation", "allocation"),
        intervention_model=reader.token(info, "interventionModel", "intervention_model"),
        intervention_model_description=reader.text(info, "interventionModelDescription"),
        primary_purpose=reader.token(info, "primaryPurpose", "primary_purpose"),
        masking=reader.token(masking, "masking", "masking"),
        who_masked=reader.tokens(masking, "whoMasked", "who_masked"),
        observational_model=reader.token(info, "observationalModel", "observational_model"),
        time_perspective=reader.token(info, "timePerspective", "time_perspective"),
    )
    enrollment = reader.obj(module, "enrollmentInfo")
    record.enrollment_count = reader.integer(enrollment, "count")
    enrollment_type = reader.text(enrollment, "type")
    if enrollment_type not in (None, "ACTUAL", "ESTIMATED"):
        raise reader.fail(enrollment.at("type"), "ACTUAL or ESTIMATED", enrollment_type)
    record.enrollment_type = enrollment_type  # type: ignore[assignment]


def _read_arms(reader: _Reader, module: _Obj, record: TrialRecord) -> None:
    record.arms = [
        Arm(
            label=reader.required_text(node, "label"),
            type=reader.token(node, "type", "arm_type"),
            description=reader.text(node, "description"),
            intervention_names=reader.texts(node, "interventionNames"),
        )
        for node in reader.objs(module, "armGroups")
    ]
    record.interventions = [
        Intervention(
            type=reader.token(node, "type", "intervention_type"),
            name=reader.required_text(node, "name"),
            description=reader.text(node, "description"),
            other_names=reader.texts(node, "otherNames"),
            arm_labels=reader.texts(node, "armGroupLabels"),
        )
        for node in reader.objs(module, "interventions")
    ]


_OUTCOME_LISTS = (("primary", "primaryOutcomes"), ("secondary", "secondaryOutcomes"), ("other", "otherOutcomes"))


def _read_outcomes(reader: _Reader, module: _Obj, record: TrialRecord) -> None:
    record.outcomes = [
        Outcome(
            kind=kind,
            measure=reader.required_text(node, "measure"),
            description=reader.text(node, "description"),
            time_frame=reader.text(node, "timeFrame"),
        )
        for kind, key in _OUTCOME_LISTS
        for node in reader.objs(module, key)
    ]


def _read_eligibility(reader: _Reader, module: _Obj) -> Eligibility:
    criteria_raw = reader.text(module, "eligibilityCriteria")
    return Eligibility(
        criteria=unescape_markdown(criteria_raw) if criteria_raw is not None else None,
        criteria_raw=criteria_raw,
        sex=reader.token(module, "sex", "sex"),
        gender_based=reader.boolean(module, "genderBased"),
        minimum_age=reader.age(module, "minimumAge"),
        maximum_age=reader.age(module, "maximumAge"),
        healthy_volunteers=reader.boolean(module, "healthyVolunteers"),
        standard_ages=reader.tokens(module, "stdAges", "standard_age"),
        study_population=reader.text(module, "studyPopulation"),
        sampling_method=reader.token(module, "samplingMethod", "sampling_method"),
    )


def _contact(reader: _Reader, node: _Obj, role_enum: str) -> Person:
    return Person(
        name=reader.text(node, "name"),
        role=reader.token(node, "role", role_enum),
        affiliation=reader.text(node, "affiliation"),
        phone=reader.text(node, "phone"),
        phone_ext=reader.text(node, "phoneExt"),
        email=reader.text(node, "email"),
    )


def _location(reader: _Reader, node: _Obj) -> Location:
    geo = reader.obj(node, "geoPoint")
    return Location(
        facility=reader.text(node, "facility"),
        status=reader.token(node, "status", "recruitment_status"),
        city=reader.text(node, "city"),
        state=reader.text(node, "state"),
        zip=reader.text(node, "zip"),
        country=reader.text(node, "country"),
        geo=GeoPoint(lat=reader.number(geo, "lat"), lon=reader.number(geo, "lon")) if geo.data else None,
        contacts=[_contact(reader, contact, "contact_role") for contact in reader.objs(node, "contacts")],
    )


def _read_contacts(reader: _Reader, module: _Obj, record: TrialRecord) -> None:
    record.officials = [_contact(reader, node, "official_role") for node in reader.objs(module, "overallOfficials")]
    record.central_contacts = [
        _contact(reader, node, "contact_role") for node in reader.objs(module, "centralContacts")
    ]
    record.locations = [_location(reader, node) for node in reader.objs(module, "locations")]


def _read_references(reader: _Reader, module: _Obj, record: TrialRecord) -> None:
    record.references = [
        Reference(
            citation=reader.text(node, "citation"),
            pmid=reader.text(node, "pmid"),
            type=reader.token(node, "type", "reference_type"),
        )
        for node in reader.objs(module, "references")
    ]
    record.links = [
        Link(url=reader.required_text(node, "url"), label=reader.text(node, "label"))
        for node in reader.objs(module, "seeAlsoLinks")
    ]


def _read_meshes(reader: _Reader, module: _Obj) -> list[MeshTerm]:
    return [
        MeshTerm(id=reader.text(node, "id"), term=reader.required_text(node, "term"))
        for node in reader.objs(module, "meshes")
    ]


def _read_oversight(reader: _Reader, module: _Obj) -> Oversight | None:
    if not module.data:
        return None
    return Oversight(
        has_dmc=reader.boolean(module, "oversightHasDmc"),
        fda_regulated_drug=reader.boolean(module, "isFdaRegulatedDrug"),
        fda_regulated_device=reader.boolean(module, "isFdaRegulatedDevice"),
        unapproved_device=reader.boolean(module, "isUnapprovedDevice"),
        us_export=reader.boolean(module, "isUsExport"),
    )


def _read_ipd_sharing(reader: _Reader, module: _Obj) -> IpdSharing | None:
    if not module.data:
        return None
    return IpdSharing(
        sharing=reader.token(module, "ipdSharing", "ipd_sharing"),
        description=reader.text(module, "description"),
        info_types=reader.tokens(module, "infoTypes", "ipd_info_type"),
        time_frame=reader.text(module, "timeFrame"),
        access_criteria=reader.text(module, "accessCriteria"),
        url=reader.text(module, "url"),
    )

