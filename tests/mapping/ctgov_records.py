"""Test helper: the TrialRecords the mapping tests convert (read by the real ingesters)."""

from __future__ import annotations

from pathlib import Path

from fhir_adapter.ingest import load_trial
from fhir_adapter.trial import TrialRecord

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
CTGOV_DIR = REPO.parent / "shared" / "data" / "ctgov"


def corpus_files() -> list[Path]:
    """The shared regression corpus (empty when ../shared is not there)."""
    return sorted(CTGOV_DIR.glob("*.json")) if CTGOV_DIR.is_dir() else []


def sample_files() -> list[Path]:
    """The ClinicalTrials.gov records bundled in samples/ctgov."""
    return sorted((SAMPLES / "ctgov").glob("*.json"))


def load(path: Path) -> TrialRecord:
    return load_trial(path)


def seed_trial() -> TrialRecord:
    """The seed trial NCT06577194 as its registry page (samples/NCT06577194.txt) states it."""
    return load_trial(SAMPLES / "NCT06577194.txt")
