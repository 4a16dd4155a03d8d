"""Paths and small builders shared by the ingest tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
SEED_PAGE = SAMPLES / "NCT06577194.txt"
SAMPLE_XML = SAMPLES / "ctgov-xml" / "NCT02513394.xml"
SHARED_CTGOV = (REPO / "../shared/data/ctgov").resolve()


def sample_study(nct_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / "ctgov" / f"{nct_id}.json").read_text(encoding="utf-8"))
    return data


def minimal_study(**modules: Any) -> dict[str, Any]:
    """A small valid study; keyword arguments replace protocolSection modules."""
    study: dict[str, Any] = {
        "protocolSection": {
            "identificationModule": {"nctId": "NCT00000001", "briefTitle": "A small study"},
            "statusModule": {"overallStatus": "RECRUITING", "startDateStruct": {"date": "2024-01", "type": "ACTUAL"}},
            "designModule": {"studyType": "INTERVENTIONAL", "phases": ["PHASE2"], "enrollmentInfo": {"count": 10}},
            "eligibilityModule": {"eligibilityCriteria": "* ANC \\>= 1.5 x 10\\^9/L", "minimumAge": "18 Years"},
        }
    }
    study["protocolSection"].update(copy.deepcopy(modules))
    return study
