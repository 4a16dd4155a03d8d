"""Legacy ClinicalTrials.gov ``<clinical_study>`` XML -> :class:`TrialRecord`.

Parsed with defusedxml, DTDs and entities forbidden (an entity bomb is an InputError). The
legacy labels (``Active, not recruiting``, ``Phase 1/Phase 2``) are normalised to the API v2
tokens through ``mappings/ctgov_enums.yaml`` (legacy_xml); an unknown label is kept as given
and reported in ``warnings``. Textblocks are dedented; criteria carry no markdown escapes.
Posted results (``<clinical_results>``) are read by :mod:`fhir_adapter.ingest.ctgov_xml_results`.
"""

from __future__ import annotations

import re
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import defusedxml
import defusedxml.ElementTree as SafeET

from fhir_adapter.errors import InputError
from fhir_adapter.ingest.ctgov_xml_results import read_results
from fhir_adapter.ingest.text import legacy_date, parse_age, parse_field
from fhir_adapter.ingest.vocab import legacy_label, unknown_token_warning
from fhir_adapter.trial import (
    AgeBound,
    Arm,
    Design,
    Eligibility,
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

FORMAT = "ctgov-xml"
_MASKING = re.compile(r"^\s*([^()]+?)\s*(?:\((.*)\))?\s*$")


def parse_clinical_study(text: str, source: str) -> TrialRecord:
    """Parse one ``<clinical_study>`` document."""
    root = _parse_xml(text, source)
    if root.tag != "clinical_study":
        raise InputError(f"XML root is <{root.tag}>, expected <clinical_study>", source=source)
    reader = _Reader(source)
    record = TrialRecord(source_format=FORMAT, source=source)
    _read_identification(reader, root, record)
    _read_status(reader, root, record)
    _read_sponsors(reader, root, record)
    _read_design(reader, root, record)
    _read_arms(reader, root, record)
    record.outcomes = _read_outcomes(root)
    record.eligibility = _read_eligibility(reader, root.find("eligibility"))
    _read_people(reader, root, record)
    record.locations = [_read_location(reader, node) for node in root.findall("location")]
    _read_references(reader, root, record)
    record.oversight = _read_oversight(reader, root.find("oversight_info"))
    record.ipd_sharing = _read_ipd_sharing(reader, root.find("patient_data"))
    record.results = read_results(root.find("clinical_results"), lambda table, raw, path: (
        _label_or_raw(reader, table, raw, path) if raw is not None else None))
    record.warnings = reader.warnings
    return record


def _parse_xml(text: str, source: str) -> ET.Element:
    try:
        root: ET.Element = SafeET.fromstring(text, forbid_dtd=True)
    except defusedxml.DefusedXmlException as exc:
        raise InputError(f"unsafe XML refused ({type(exc).__name__})", source=source) from exc
    except ET.ParseError as exc:
        raise InputError(f"malformed XML: {exc}", source=source) from exc
    except ValueError as exc:
        raise InputError(f"malformed XML: {exc}", source=source) from exc
    return root


@dataclass
class _Reader:
    source: str
    warnings: list[str] = field(default_factory=list)

    def label(self, table: str, element: ET.Element | None, path: str) -> Any:
        """The API v2 token(s) of a legacy label; the label itself (with a warning) when unknown."""
        raw = _text(element)
        if raw is None:
            return None
        token = legacy_label(table, raw)
        if token is None:
            self.warnings.append(unknown_token_warning(path, raw))
            return raw
        return token

    def date(self, element: ET.Element | None, path: str) -> PartialDate | None:
        date = parse_field(legacy_date, _text(element), source=self.source, field=path)
        if date is None or element is None:
            return None
        date_type = self.label("date_type", _attribute(element, "type"), f"{path}/@type")
        return PartialDate(date=date, type=date_type if date_type in ("ACTUAL", "ESTIMATED") else None)

    def age(self, element: ET.Element | None, path: str) -> AgeBound | None:
        return parse_field(parse_age, _text(element), source=self.source, field=path)


def _attribute(element: ET.Element, name: str) -> ET.Element | None:
    """An attribute as a text-only element, so that labels and attributes share one code path."""
    value = element.get(name)
    if value is None:
        return None
    holder = ET.Element(name)
    holder.text = value
    return holder


def _text(element: ET.Element | None) -> str | None:
    if element is None:
        return None
    text = " ".join("".join(element.itertext()).split())
    return text or None


def _texts(parent: ET.Element, path: str) -> list[str]:
    return [text for text in (_text(node) for node in parent.findall(path)) if text]


def _textblock(element: ET.Element | None) -> tuple[str | None, str | None]:
    """(dedented text, text as given) of a ``<x><textblock>`` element."""
    if element is None:
        return None, None
    block = element.find("textblock")
    raw = "".join((block if block is not None else element).itertext())
    if not raw.strip():
        return None, None
    return textwrap.dedent(raw).strip("\n").rstrip(), raw.strip("\n").rstrip()


def _read_identification(reader: _Reader, root: ET.Element, record: TrialRecord) -> None:
    record.nct_id = _text(root.find("id_info/nct_id"))
    record.org_study_id = _text(root.find("id_info/org_study_id"))
    record.secondary_ids = [SecondaryId(id=value) for value in _texts(root, "id_info/secondary_id")]
    record.nct_id_aliases = _texts(root, "id_info/nct_alias")
    record.brief_title = _text(root.find("brief_title"))
    record.official_title = _text(root.find("official_title"))
    record.acronym = _text(root.find("acronym"))
    record.brief_summary = _textblock(root.find("brief_summary"))[0]
    record.detailed_description = _textblock(root.find("detailed_description"))[0]
    record.conditions = _texts(root, "condition")
    record.keywords = _texts(root, "keyword")
    record.condition_mesh_terms = [MeshTerm(term=term) for term in _texts(root, "condition_browse/mesh_term")]
    record.intervention_mesh_terms = [MeshTerm(term=term) for term in _texts(root, "intervention_browse/mesh_term")]


def _read_status(reader: _Reader, root: ET.Element, record: TrialRecord) -> None:
    record.overall_status_raw = _text(root.find("overall_status"))
    record.overall_status = reader.label("overall_status", root.find("overall_status"), "overall_status")
    record.last_known_status = reader.label("overall_status", root.find("last_known_status"), "last_known_status")
    record.why_stopped = _text(root.find("why_stopped"))
    verified = reader.date(root.find("verification_date"), "verification_date")
    record.status_verified_date = verified.date if verified else None
    updated = reader.date(root.find("last_update_posted"), "last_update_posted")
    record.last_update_date = updated.date if updated else None
    record.last_update_posted = updated
    record.first_posted_date = reader.date(root.find("study_first_posted"), "study_first_posted")
    record.results_first_posted_date = reader.date(root.find("results_first_posted"), "results_first_posted")
    submitted = reader.date(root.find("results_first_submitted"), "results_first_submitted")
    record.results_first_submitted_date = submitted.date if submitted else None
    # A legacy record is complete as of its download: results were posted when it has them or their date.
    record.has_results = root.find("clinical_results") is not None or record.results_first_posted_date is not None
    record.start_date = reader.date(root.find("start_date"), "start_date")
    record.primary_completion_date = reader.date(root.find("primary_completion_date"), "primary_completion_date")
    record.completion_date = reader.date(root.find("completion_date"), "completion_date")


def _organization(reader: _Reader, node: ET.Element, path: str) -> Organization:
    name = _text(node.find("agency"))
    if name is None:
        raise InputError("missing", source=reader.source, field=f"{path}/agency")
    return Organization(name=name, agency_class=reader.label("agency_class", node.find("agency_class"), path))


def _read_sponsors(reader: _Reader, root: ET.Element, record: TrialRecord) -> None:
    lead = root.find("sponsors/lead_sponsor")
    record.lead_sponsor = _organization(reader, lead, "sponsors/lead_sponsor") if lead is not None else None
    record.collaborators = [
        _organization(reader, node, "sponsors/collaborator") for node in root.findall("sponsors/collaborator")
    ]
    party = root.find("responsible_party")
    if party is not None:
        record.responsible_party = Person(
            name=_text(party.find("investigator_full_name")),
            role=reader.label("responsible_party_type", party.find("responsible_party_type"), "responsible_party"),
            title=_text(party.find("investigator_title")),
            affiliation=_text(party.find("investigator_affiliation")),
        )


def _read_design(reader: _Reader, root: ET.Element, record: TrialRecord) -> None:
    phases = reader.label("phase", root.find("phase"), "phase")
    record.phases = list(phases) if isinstance(phases, list) else ([phases] if phases else [])
    record.study_type = reader.label("study_type", root.find("study_type"), "study_type")
    info = root.find("study_design_info")
    if info is not None:
        masking, who_masked = _masking(reader, _text(info.find("masking")))
        record.design = Design(
            allocation=reader.label("allocation", info.find("allocation"), "study_design_info/allocation"),
            intervention_model=reader.label(
                "intervention_model", info.find("intervention_model"), "study_design_info/intervention_model"
            ),
            intervention_model_description=_text(info.find("intervention_model_description")),
            primary_purpose=reader.label(
                "primary_purpose", info.find("primary_purpose"), "study_design_info/primary_purpose"
            ),
            masking=masking,
            who_masked=who_masked,
            observational_model=reader.label(
                "observational_model", info.find("observational_model"), "study_design_info/observational_model"
            ),
            time_perspective=reader.label(
                "time_perspective", info.find("time_perspective"), "study_design_info/time_perspective"
            ),
        )
    enrollment = root.find("enrollment")
    count = _text(enrollment)
    if count is not None and enrollment is not None:
        if not (count.isascii() and count.isdigit()):
            raise InputError(f"not a whole number: {count!r}", source=reader.source, field="enrollment")
        record.enrollment_count = int(count)
        enrollment_type = reader.label("date_type", _attribute(enrollment, "type"), "enrollment/@type")
        record.enrollment_type = enrollment_type if enrollment_type in ("ACTUAL", "ESTIMATED") else None


def _masking(reader: _Reader, raw: str | None) -> tuple[str | None, list[str]]:
    """``Double (Participant, Investigator)`` -> (DOUBLE, [PARTICIPANT, INVESTIGATOR]); ``None (Open Label)``: NONE."""
    match = _MASKING.match(raw or "")
    if raw is None or match is None:
        return raw, []
    level = _label_or_raw(reader, "masking", match.group(1), "study_design_info/masking")
    who_masked: list[str] = []
    if level != "NONE" and match.group(2):
        for who in match.group(2).split(","):
            who_masked.append(_label_or_raw(reader, "who_masked", who, "study_design_info/masking"))
    return level, who_masked


def _label_or_raw(reader: _Reader, table: str, raw: str, path: str) -> str:
    holder = ET.Element("value")
    holder.text = raw
    return str(reader.label(table, holder, path))


def _read_arms(reader: _Reader, root: ET.Element, record: TrialRecord) -> None:
    record.interventions = [
        Intervention(
            type=reader.label("intervention_type", node.find("intervention_type"), "intervention/intervention_type"),
            name=_required(reader, node, "intervention_name", "intervention"),
            description=_text(node.find("description")),
            other_names=_texts(node, "other_name"),
            arm_labels=_texts(node, "arm_group_label"),
        )
        for node in root.findall("intervention")
    ]
    record.arms = [
        Arm(
            label=_required(reader, node, "arm_group_label", "arm_group"),
            type=reader.label("arm_type", node.find("arm_group_type"), "arm_group/arm_group_type"),
            description=_text(node.find("description")),
        )
        for node in root.findall("arm_group")
    ]
    # The XML lists each intervention's arms; the API's arm -> "Type: name" list is derived from it.
    for arm in record.arms:
        arm.intervention_names = [
            f"{_type_label(intervention)}{intervention.name}"
            for intervention in record.interventions
            if arm.label in intervention.arm_labels
        ]


def _type_label(intervention: Intervention) -> str:
    return f"{intervention.type.replace('_', ' ').title()}: " if intervention.type else ""


def _required(reader: _Reader, node: ET.Element, child: str, path: str) -> str:
    value = _text(node.find(child))
    if value is None:
        raise InputError("missing", source=reader.source, field=f"{path}/{child}")
    return value


_OUTCOME_ELEMENTS = (("primary", "primary_outcome"), ("secondary", "secondary_outcome"), ("other", "other_outcome"))


def _read_outcomes(root: ET.Element) -> list[Outcome]:
    return [
        Outcome(
            kind=kind,
            measure=_text(node.find("measure")) or "",
            description=_text(node.find("description")),
            time_frame=_text(node.find("time_frame")),
        )
        for kind, element in _OUTCOME_ELEMENTS
        for node in root.findall(element)
        if _text(node.find("measure"))
    ]


def _read_eligibility(reader: _Reader, node: ET.Element | None) -> Eligibility:
    if node is None:
        return Eligibility()
    criteria, criteria_raw = _textblock(node.find("criteria"))
    healthy = reader.label("yes_no", node.find("healthy_volunteers"), "eligibility/healthy_volunteers")
    gender_based = reader.label("yes_no", node.find("gender_based"), "eligibility/gender_based")
    return Eligibility(
        criteria=criteria,
        criteria_raw=criteria_raw,
        sex=reader.label("gender", node.find("gender"), "eligibility/gender"),
        gender_based=gender_based if isinstance(gender_based, bool) else None,
        minimum_age=reader.age(node.find("minimum_age"), "eligibility/minimum_age"),
        maximum_age=reader.age(node.find("maximum_age"), "eligibility/maximum_age"),
        healthy_volunteers=healthy if isinstance(healthy, bool) else None,
        study_population=_textblock(node.find("study_pop"))[0],
        sampling_method=reader.label("sampling_method", node.find("sampling_method"), "eligibility/sampling_method"),
    )


def _person(reader: _Reader, node: ET.Element, role: str | None = None) -> Person:
    return Person(
        name=_text(node.find("last_name")),
        role=role or reader.label("official_role", node.find("role"), f"{node.tag}/role"),
        affiliation=_text(node.find("affiliation")),
        phone=_text(node.find("phone")),
        phone_ext=_text(node.find("phone_ext")),
        email=_text(node.find("email")),
    )


def _read_people(reader: _Reader, root: ET.Element, record: TrialRecord) -> None:
    record.officials = [_person(reader, node) for node in root.findall("overall_official")]
    record.central_contacts = [
        _person(reader, node, "CONTACT") for tag in ("overall_contact", "overall_contact_backup")
        for node in root.findall(tag)
    ]


def _read_location(reader: _Reader, node: ET.Element) -> Location:
    address = node.find("facility/address")
    contacts = [
        _person(reader, contact, "CONTACT") for tag in ("contact", "contact_backup") for contact in node.findall(tag)
    ]
    contacts += [_person(reader, investigator) for investigator in node.findall("investigator")]
    return Location(
        facility=_text(node.find("facility/name")),
        status=reader.label("overall_status", node.find("status"), "location/status"),
        city=_text(address.find("city")) if address is not None else None,
        state=_text(address.find("state")) if address is not None else None,
        zip=_text(address.find("zip")) if address is not None else None,
        country=_text(address.find("country")) if address is not None else None,
        contacts=contacts,
    )


_REFERENCE_ELEMENTS = (("reference", "BACKGROUND"), ("results_reference", "RESULT"))


def _read_references(reader: _Reader, root: ET.Element, record: TrialRecord) -> None:
    record.references = [
        Reference(citation=_text(node.find("citation")), pmid=_text(node.find("PMID")), type=reference_type)
        for element, reference_type in _REFERENCE_ELEMENTS
        for node in root.findall(element)
    ]
    record.links = [
        Link(url=url, label=_text(node.find("description")))
        for node in root.findall("link")
        if (url := _text(node.find("url")))
    ]


_OVERSIGHT_ELEMENTS = (
    ("has_dmc", "has_dmc"),
    ("fda_regulated_drug", "is_fda_regulated_drug"),
    ("fda_regulated_device", "is_fda_regulated_device"),
    ("unapproved_device", "is_unapproved_device"),
    ("us_export", "is_us_export"),
)


def _read_oversight(reader: _Reader, node: ET.Element | None) -> Oversight | None:
    """``<oversight_info>``: Yes/No flags; a label that is not Yes/No is reported and left out."""
    if node is None:
        return None
    flags = {name: reader.label("yes_no", node.find(element), f"oversight_info/{element}")
             for name, element in _OVERSIGHT_ELEMENTS}
    return Oversight(**{name: value for name, value in flags.items() if isinstance(value, bool)})


def _read_ipd_sharing(reader: _Reader, node: ET.Element | None) -> IpdSharing | None:
    """``<patient_data>``: the IPD sharing statement."""
    if node is None:
        return None
    info_types = [_label_or_raw(reader, "ipd_info_type", label, "patient_data/ipd_info_type")
                  for label in _texts(node, "ipd_info_type")]
    return IpdSharing(
        sharing=reader.label("ipd_sharing", node.find("sharing_ipd"), "patient_data/sharing_ipd"),
        description=_text(node.find("ipd_description")),
        info_types=info_types,
        time_frame=_text(node.find("ipd_time_frame")),
        access_criteria=_text(node.find("ipd_access_criteria")),
        url=_text(node.find("ipd_url")),
    )
