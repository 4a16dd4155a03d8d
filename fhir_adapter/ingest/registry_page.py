"""ClinicalTrials.gov registry page text (copied from the study page) -> :class:`TrialRecord`.

The page is a title line, ``Key: value`` header lines (``NCT ID:``, ``Last Updated:``), then
sections. Each section starts with a heading line from :data:`HEADINGS`, usually followed by the
page's fixed subtitle sentence (skipped when it is the known one), then bare value lines.
Sections may be missing or reordered; a repeated heading continues its section.

How each section's values are read (no value of a particular trial is assumed):

* Basic Information: each line is recognised by its shape, not its position: a Status token,
  a line of Phase tokens (``PHASE1, PHASE2``; several lines add up), ``N participants``, a
  StudyType token, ``ACTUAL``/``ESTIMATED`` (qualifying the line before) and dates. Two dates
  are start and completion; three are start, primary completion and completion.
* Study Design: each token goes to the first unfilled design axis whose enum holds it, in the
  page's order (allocation, intervention model, primary purpose, masking, then the
  observational axes); WhoMasked tokens (also comma-separated) go to ``who_masked``.
* Study Groups: each arm is a label line, then a type line (``Experimental arm`` or
  ``EXPERIMENTAL``: an ArmGroupType once "arm"/"group" is removed; kept as the description too,
  since the page does not say which it shows), then its interventions as the name and
  description lines of the Interventions section. A line that is neither starts the next arm.
  Without an Interventions section, arms are delimited by their type lines and the lines between
  are read as intervention name/description pairs.
* Interventions: name and description lines alternate.
* Eligibility Criteria: the trailing bare values (ages, sex, healthy volunteers ``Yes``/``No``,
  standard-age tokens) are read from the end; everything before is the criteria text. One age
  is the minimum; two are minimum then maximum (``N/A`` is an open bound).
* Sponsors: an organisation name optionally followed by its AgencyClass token; the first is the
  lead sponsor, the others collaborators.
* Locations: a facility line, then a ``City, State, Country`` line (a part with digits is the
  zip code), optionally a recruitment-status token.
* Central / Facility Contacts: a name line followed by ``Role:``, ``Phone:``, ``Phone Ext:``,
  ``Email:`` lines. A facility contact belongs to the location named by the last facility line,
  or to the only location.
* Other Identifiers: an identifier line followed by ``Identifier Type:``/``Identifier Source:``/
  ``Identifier Domain:``/``Identifier Link:`` lines; source ``org_study_id`` gives the org study id.
* Related Clinical Trials / More Related Trials: a title line followed by an NCT id line.
* Study Results: only the page's subtitle that no results are published: ``has_results`` is false.

Lines that fit none of these are reported in ``warnings`` with their section.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from fhir_adapter.errors import InputError
from fhir_adapter.ingest.text import NCT_ID, is_age, is_partial_date, parse_age, unescape_markdown
from fhir_adapter.ingest.vocab import is_token, registry_page_table, unknown_token_warning
from fhir_adapter.trial import (
    Arm,
    Design,
    Eligibility,
    Intervention,
    Location,
    Organization,
    PartialDate,
    Person,
    RelatedTrial,
    SecondaryId,
    TrialRecord,
)

FORMAT = "registry-page"

HEADINGS: dict[str, str] = {
    "Study Results": "The study team has not published outcome measurements, participant flow, or safety data "
    "for this trial yet. Check back later for updates.",
    "Basic Information": "Get a concise snapshot of the trial, including recruitment status, study phase, "
    "enrollment targets, and key timeline milestones.",
    "Brief Summary": "Review the sponsor-provided synopsis that highlights what the study is about and why it is "
    "being conducted.",
    "Related Clinical Trials": "Explore similar clinical trials based on study characteristics and research focus.",
    "Detailed Description": "Dive into the extended narrative that explains the scientific background, objectives, "
    "and procedures in greater depth.",
    "Conditions": "See the medical conditions and disease areas that this research is targeting or investigating.",
    "Study Design": "Understand how the trial is structured, including allocation methods, masking strategies, "
    "primary purpose, and other design elements.",
    "Study Groups": "Review each arm or cohort in the study, along with the interventions and objectives "
    "associated with them.",
    "Interventions": "Learn about the drugs, procedures, or behavioral strategies being tested and how they are "
    "applied within this trial.",
    "Eligibility Criteria": "Check the participation requirements, including inclusion and exclusion rules, age "
    "limits, and whether healthy volunteers are accepted.",
    "Sponsors": "Meet the organizations funding or collaborating on the study and learn about their roles.",
    "Responsible Party": "Identify the individual or organization who holds primary responsibility for the study "
    "information submitted to regulators.",
    "Locations": "Explore where the study is taking place and check the recruitment status at each participating "
    "site.",
    "Countries": "Review the countries where the study has at least one active or historical site.",
    "Central Contacts": "Reach out to these primary contacts for questions about participation or study logistics.",
    "Facility Contacts": "Find local site contact details for specific facilities participating in the trial.",
    "Other Identifiers": "Review additional registry numbers or institutional identifiers associated with this "
    "trial.",
    "More Related Trials": "Additional clinical trials that may be relevant based on similarity analysis.",
}

_PARTICIPANTS = re.compile(r"^(\d[\d,]*)\s+participants?$", re.IGNORECASE)
_KEY_VALUE = re.compile(r"^([A-Za-z][A-Za-z ]*?):\s*(.*)$")
_ARM_TYPE_SUFFIX = re.compile(r"\s+(arm|group)$", re.IGNORECASE)
_DESIGN_AXES = (
    ("allocation", "allocation"),
    ("intervention_model", "intervention_model"),
    ("primary_purpose", "primary_purpose"),
    ("masking", "masking"),
    ("observational_model", "observational_model"),
    ("time_perspective", "time_perspective"),
)


@dataclass
class _Page:
    header: list[str]
    sections: dict[str, list[str]]


@dataclass
class _Context:
    record: TrialRecord
    warnings: list[str] = field(default_factory=list)

    def unread(self, section: str, line: str) -> None:
        shown = line if len(line) <= 80 else line[:77] + "..."
        self.warnings.append(f"{section}: line not understood, not read: {shown!r}")


def parse_registry_page(text: str, source: str) -> TrialRecord:
    """Parse registry page text; InputError if it has neither an NCT ID line nor any known heading."""
    page = split_sections(text)
    if not page.sections and not any(line.startswith("NCT ID:") for line in page.header):
        raise InputError("not registry page text: no 'NCT ID:' line and no known section heading", source=source)
    context = _Context(TrialRecord(source_format=FORMAT, source=source))
    _read_header(context, page.header)
    readers: dict[str, Callable[[_Context, list[str]], None]] = {
        "Basic Information": _read_basic_information,
        "Brief Summary": lambda ctx, lines: _set_text(ctx, "brief_summary", lines),
        "Detailed Description": lambda ctx, lines: _set_text(ctx, "detailed_description", lines),
        "Conditions": _read_conditions,
        "Study Design": _read_design,
        "Eligibility Criteria": _read_eligibility,
        "Sponsors": _read_sponsors,
        "Responsible Party": _read_responsible_party,
        "Locations": _read_locations,
        "Central Contacts": _read_central_contacts,
        "Other Identifiers": _read_other_identifiers,
        "Related Clinical Trials": _read_related_trials,
        "More Related Trials": _read_related_trials,
        "Study Results": _read_study_results,
    }
    for heading, lines in page.sections.items():
        if heading in readers:
            readers[heading](context, lines)
    # These depend on other sections (interventions, locations), whatever the page order was.
    _read_arms_and_interventions(context, page.sections.get("Study Groups", []), page.sections.get("Interventions"))
    _read_facility_contacts(context, page.sections.get("Facility Contacts", []))
    _check_countries(context, page.sections.get("Countries", []))
    context.record.warnings = context.warnings
    return context.record


def split_sections(text: str) -> _Page:
    """Header lines and the lines of each section (subtitle removed; blank lines kept only in criteria)."""
    header: list[str] = []
    sections: dict[str, list[str]] = {}
    current: list[str] = header
    expect_subtitle: str | None = None
    for raw_line in text.splitlines():
        line = raw_line.rstrip()
        stripped = line.strip()
        if stripped in HEADINGS:
            current = sections.setdefault(stripped, [])
            expect_subtitle = HEADINGS[stripped]
            continue
        if expect_subtitle is not None and stripped:
            skip = stripped == expect_subtitle
            expect_subtitle = None
            if skip:
                continue
        current.append(line)
    return _Page(header=[line.strip() for line in header if line.strip()], sections=sections)


def _non_blank(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip()]


def _read_study_results(context: _Context, lines: list[str]) -> None:
    """The section holds only its subtitle, which says that no results are published (split_sections drops
    it): then the trial has no posted results. A page with results says more, which is not read here."""
    values = _non_blank(lines)
    if not values:
        context.record.has_results = False
    for line in values:
        context.unread("Study Results", line)


def _read_header(context: _Context, header: list[str]) -> None:
    record = context.record
    for index, line in enumerate(header):
        match = _KEY_VALUE.match(line)
        key, value = (match.group(1), match.group(2).strip()) if match else ("", "")
        if key == "NCT ID":
            record.nct_id = value.upper() if NCT_ID.match(value) else value
            if not NCT_ID.match(value):
                context.warnings.append(f"NCT ID: not an NCT id, kept as given: {value!r}")
        elif key == "Last Updated" and is_partial_date(value):
            record.last_update_date = value
        elif index == 0:
            record.brief_title = line
        else:
            context.unread("header", line)


def _set_text(context: _Context, attribute: str, lines: list[str]) -> None:
    paragraphs = _non_blank(lines)
    if paragraphs:
        setattr(context.record, attribute, "\n\n".join(paragraphs))


def _phase_tokens(line: str) -> list[str] | None:
    tokens = [token for token in re.split(r"[\s,/]+", line) if token]
    return tokens if tokens and all(is_token("phase", token) for token in tokens) else None


def _read_basic_information(context: _Context, lines: list[str]) -> None:
    record = context.record
    dates: list[PartialDate] = []
    for line in _non_blank(lines):
        phases = _phase_tokens(line)
        participants = _PARTICIPANTS.match(line)
        if record.overall_status is None and is_token("overall_status", line):
            record.overall_status = record.overall_status_raw = line
        elif phases is not None:
            record.phases.extend(phases)
        elif participants:
            record.enrollment_count = int(participants.group(1).replace(",", ""))
        elif record.study_type is None and is_token("study_type", line):
            record.study_type = line
        elif is_partial_date(line):
            dates.append(PartialDate(date=line))
        elif line in ("ACTUAL", "ESTIMATED") and dates:
            dates[-1].type = line  # type: ignore[assignment]
        else:
            context.unread("Basic Information", line)
    _assign_dates(context, dates)


def _assign_dates(context: _Context, dates: list[PartialDate]) -> None:
    record = context.record
    if len(dates) >= 3:
        record.start_date, record.primary_completion_date, record.completion_date = dates[:3]
    elif len(dates) == 2:
        record.start_date, record.completion_date = dates
    elif dates:
        record.start_date = dates[0]
    for extra in dates[3:]:
        context.unread("Basic Information", extra.date)


def _read_conditions(context: _Context, lines: list[str]) -> None:
    context.record.conditions.extend(_non_blank(lines))


def _read_design(context: _Context, lines: list[str]) -> None:
    values: dict[str, str] = {}
    who_masked: list[str] = []
    for line in _non_blank(lines):
        axis = next((name for name, enum in _DESIGN_AXES if name not in values and is_token(enum, line)), None)
        masked = [token.strip() for token in line.split(",")]
        if axis is not None:
            values[axis] = line
        elif all(is_token("who_masked", token) for token in masked):
            who_masked.extend(masked)
        else:
            context.unread("Study Design", line)
    context.record.design = Design(**values, who_masked=who_masked)


def _is_eligibility_value(line: str) -> bool:
    return (
        is_age(line)
        or is_token("sex", line)
        or is_token("standard_age", line)
        or line in registry_page_table("yes_no")
    )


def _read_eligibility(context: _Context, lines: list[str]) -> None:
    body = [line.rstrip() for line in lines]
    while body and not body[-1].strip():
        body.pop()
    values: list[str] = []
    while body and (_is_eligibility_value(body[-1].strip()) or not body[-1].strip()):
        value = body.pop().strip()
        if value:
            values.insert(0, value)
    while body and not body[0].strip():
        body.pop(0)
    criteria_raw = "\n".join(body) if body else None
    eligibility = Eligibility(
        criteria=unescape_markdown(criteria_raw) if criteria_raw is not None else None, criteria_raw=criteria_raw
    )
    _read_eligibility_values(context, eligibility, values)
    context.record.eligibility = eligibility


def _read_eligibility_values(context: _Context, eligibility: Eligibility, values: list[str]) -> None:
    ages = [value for value in values if is_age(value)]
    if len(ages) > 2:
        for extra in ages[2:]:
            context.unread("Eligibility Criteria", extra)
    eligibility.minimum_age = parse_age(ages[0]) if ages else None
    eligibility.maximum_age = parse_age(ages[1]) if len(ages) > 1 else None
    yes_no = registry_page_table("yes_no")
    for value in values:
        if is_token("sex", value):
            eligibility.sex = value
        elif is_token("standard_age", value):
            eligibility.standard_ages.append(value)
        elif value in yes_no:
            eligibility.healthy_volunteers = bool(yes_no[value])


def _read_sponsors(context: _Context, lines: list[str]) -> None:
    organizations: list[Organization] = []
    for line in _non_blank(lines):
        if organizations and organizations[-1].agency_class is None and is_token("agency_class", line):
            organizations[-1].agency_class = line
        else:
            organizations.append(Organization(name=line))
    if organizations:
        context.record.lead_sponsor = organizations[0]
        context.record.collaborators.extend(organizations[1:])


def _read_responsible_party(context: _Context, lines: list[str]) -> None:
    values = _non_blank(lines)
    if not values:
        return
    role = next((line for line in values if is_token("responsible_party_type", line)), None)
    others = [line for line in values if line != role]
    context.record.responsible_party = Person(
        role=role, name=others[0] if others else None, affiliation=others[1] if len(others) > 1 else None
    )
    for extra in others[2:]:
        context.unread("Responsible Party", extra)


def _address(location: Location, line: str) -> None:
    parts = [part.strip() for part in line.split(",") if part.strip()]
    if not parts:
        return
    location.country = parts.pop()
    postal = [part for part in parts if any(char.isdigit() for char in part)]
    if postal:
        location.zip = postal[-1]
        parts.remove(postal[-1])
    if parts:
        location.city = parts[0]
        location.state = ", ".join(parts[1:]) or None


def _read_locations(context: _Context, lines: list[str]) -> None:
    expect_address = False
    for line in _non_blank(lines):
        locations = context.record.locations
        if locations and is_token("recruitment_status", line):
            locations[-1].status = line
        elif expect_address:
            _address(locations[-1], line)
            expect_address = False
        else:
            locations.append(Location(facility=line))
            expect_address = True


def _check_countries(context: _Context, lines: list[str]) -> None:
    known = {location.country for location in context.record.locations}
    for country in _non_blank(lines):
        if country not in known:
            context.warnings.append(f"Countries: {country!r} has no location on the page")


_CONTACT_KEYS = {"Role": "role", "Phone": "phone", "Phone Ext": "phone_ext", "Email": "email"}


def _contact_attribute(context: _Context, person: Person, key: str, value: str) -> None:
    if key == "Role":
        roles = registry_page_table("contact_roles")
        role = roles.get(value.lower(), value)
        if value.lower() not in roles and not is_token("contact_role", value):
            context.warnings.append(unknown_token_warning("Contacts: Role", value))
        person.role = str(role)
    else:
        setattr(person, _CONTACT_KEYS[key], value)


def _read_people(context: _Context, lines: list[str], locations: dict[str, Location] | None = None) -> list[Person]:
    """The people of a contact section. With ``locations``, a facility-name line places the people after it
    at that location (and they are not returned); with a single location, everyone goes there."""
    people: list[Person] = []
    only = list(locations.values()) if locations else []
    place: Location | None = only[0] if len(only) == 1 else None
    last: Person | None = None
    for line in _non_blank(lines):
        match = _KEY_VALUE.match(line)
        if match and match.group(1) in _CONTACT_KEYS and last is not None:
            _contact_attribute(context, last, match.group(1), match.group(2).strip())
        elif locations and line in locations:
            place, last = locations[line], None
        else:
            last = Person(name=line)
            (place.contacts if place is not None else people).append(last)
    return people


def _read_central_contacts(context: _Context, lines: list[str]) -> None:
    context.record.central_contacts.extend(_read_people(context, lines))


def _read_facility_contacts(context: _Context, lines: list[str]) -> None:
    by_facility = {location.facility or "": location for location in context.record.locations}
    unplaced = _read_people(context, lines, by_facility)
    if unplaced:
        context.warnings.append(
            f"Facility Contacts: {len(unplaced)} contact(s) not read: no facility line and not a single location"
        )


_IDENTIFIER_KEYS = {"Identifier Type": "type", "Identifier Source": "source", "Identifier Domain": "domain",
                    "Identifier Link": "link"}


def _read_other_identifiers(context: _Context, lines: list[str]) -> None:
    entries: list[dict[str, str]] = []
    for line in _non_blank(lines):
        match = _KEY_VALUE.match(line)
        if match and match.group(1) in _IDENTIFIER_KEYS and entries:
            entries[-1][_IDENTIFIER_KEYS[match.group(1)]] = match.group(2).strip()
        else:
            entries.append({"id": line})
    for entry in entries:
        _add_identifier(context, entry)


def _add_identifier(context: _Context, entry: dict[str, str]) -> None:
    record = context.record
    id_type = entry.get("type")
    id_type = None if id_type in (None, "", "-") else id_type
    if entry.get("source") == "org_study_id" and record.org_study_id is None:
        record.org_study_id = entry["id"]
        return
    if id_type is not None and not is_token("secondary_id_type", id_type):
        context.warnings.append(unknown_token_warning("Other Identifiers: Identifier Type", id_type))
    record.secondary_ids.append(
        SecondaryId(id=entry["id"], type=id_type, domain=entry.get("domain"), link=entry.get("link"))
    )


def _read_related_trials(context: _Context, lines: list[str]) -> None:
    title: str | None = None
    for line in _non_blank(lines):
        if NCT_ID.match(line):
            context.record.related_trials.append(RelatedTrial(nct_id=line.upper(), title=title))
            title = None
        else:
            if title is not None:
                context.unread("Related Trials", title)
            title = line
    if title is not None:
        context.unread("Related Trials", title)


def _arm_type(line: str) -> str | None:
    """``Experimental arm`` / ``Active Comparator`` / ``EXPERIMENTAL`` -> the ArmGroupType token, else None."""
    token = re.sub(r"[\s-]+", "_", _ARM_TYPE_SUFFIX.sub("", line.strip())).upper()
    return token if is_token("arm_type", token) else None


def _pairs(lines: list[str]) -> list[tuple[str, str | None]]:
    return [(lines[index], lines[index + 1] if index + 1 < len(lines) else None) for index in range(0, len(lines), 2)]


def _read_arms_and_interventions(
    context: _Context, group_lines: list[str], intervention_lines: list[str] | None
) -> None:
    record = context.record
    if intervention_lines is not None:
        pairs = _pairs(_non_blank(intervention_lines))
        record.interventions = [Intervention(name=name, description=description) for name, description in pairs]
        record.arms = _arms_with_known_interventions(_non_blank(group_lines), dict(pairs))
    else:
        record.arms, record.interventions = _arms_delimited_by_type(_non_blank(group_lines))
    for intervention in record.interventions:
        intervention.arm_labels = [arm.label for arm in record.arms if intervention.name in arm.intervention_names]


def _arms_with_known_interventions(lines: list[str], descriptions: dict[str, str | None]) -> list[Arm]:
    arms: list[Arm] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if arms and line in descriptions:
            arms[-1].intervention_names.append(line)
            if index < len(lines) and descriptions[line] is not None and lines[index] == descriptions[line]:
                index += 1
            continue
        arm = Arm(label=line)
        if index < len(lines) and lines[index] not in descriptions:
            arm.description = lines[index]
            arm.type = _arm_type(lines[index])
            index += 1
        arms.append(arm)
    return arms


def _arms_delimited_by_type(lines: list[str]) -> tuple[list[Arm], list[Intervention]]:
    starts = [index - 1 for index in range(1, len(lines)) if _arm_type(lines[index])] or ([0] if lines else [])
    if starts and starts[0] > 0:
        starts.insert(0, 0)
    arms: list[Arm] = []
    interventions: dict[str, Intervention] = {}
    for position, start in enumerate(starts):
        end = starts[position + 1] if position + 1 < len(starts) else len(lines)
        has_type = start + 1 < end and _arm_type(lines[start + 1]) is not None
        arm = Arm(label=lines[start])
        if has_type:
            arm.type, arm.description = _arm_type(lines[start + 1]), lines[start + 1]
        for name, description in _pairs(lines[start + (2 if has_type else 1) : end]):
            arm.intervention_names.append(name)
            interventions.setdefault(name, Intervention(name=name, description=description))
        arms.append(arm)
    return arms, list(interventions.values())
