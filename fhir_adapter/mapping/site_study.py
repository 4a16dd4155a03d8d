"""Per-site ResearchStudies: the recruitment status of each site, searchable.

The registry gives each site of a trial its own recruitment status. The shared Location cannot hold it (it
is the same site in every trial), and an extension on the ``ResearchStudy.site`` reference is not
searchable. So each site with a status becomes a small ResearchStudy that is ``partOf`` the trial, names the
site (``site``) and carries the site's status where FHIR searches it: R4 ``status``
(``ResearchStudy?partof=...&status=active&site=Location/...``), R5 ``progressStatus.state``
(``progress-status-state-actual``). Sites without a status get none (nothing to say).
"""

from __future__ import annotations

from fhir_adapter.mapping import canonical as C
from fhir_adapter.mapping.context import Entry, MappingContext
from fhir_adapter.mapping.datatypes import JSON, extension
from fhir_adapter.mapping.location import site_value


def site_study_role(index: int) -> str:
    return f"site-study-{index}"


def site_studies(ctx: MappingContext) -> list[Entry]:
    trial = ctx.trial
    parent = ctx.ref("ResearchStudy", None, trial.brief_title or trial.official_title)
    found: list[Entry] = []
    for index, site in enumerate(trial.locations, 1):
        if not site.status:
            continue
        name = site.facility or ", ".join(p for p in (site.city, site.country) if p) or f"Site {index}"
        body: JSON = {
            "extension": [extension(C.EXT_SITE_STATUS, valueString=site.status)],
            "title": f"{trial.nct_id or ctx.key} at {name}",
            "partOf": [parent],
            **ctx.version.site_study_status(site.status),
            "site": [ctx.shared_ref("Location", site_value(ctx, index, site), site.facility)],
        }
        found.append(ctx.entry("ResearchStudy", site_study_role(index), body))
    return found
