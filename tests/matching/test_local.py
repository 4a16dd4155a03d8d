"""LocalData: NDJSON and Bundles indexed by patient, references resolved, malformed input reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhir_adapter.errors import InputError
from fhir_adapter.matching import LocalData

DATA = Path(__file__).parent / "data"
SYNTHEA = DATA / "synthea-smart-r4"
MII = DATA / "mii-kds-testdata"


def test_synthea_urn_uuid_references_land_under_the_patient() -> None:
    data = LocalData(SYNTHEA / "Stephen_McLaughlin_7735ab79-6ac8-4b81-9936-f7ddabd18751.json")
    assert data.patient_ids() == ["d9427379-943a-42c1-b3d0-6b5056a12696"]
    pid = "d9427379-943a-42c1-b3d0-6b5056a12696"
    assert data.patient(pid)["birthDate"] == "1979-04-28"  # type: ignore[index]
    assert len(data.resources(pid, "Condition")) == 3
    assert len(data.resources(pid, "MedicationRequest")) == 5
    assert len(data.resources(pid, "Observation")) == 51
    assert data.resources("nobody", "Observation") == ()


def test_mii_put_bundles_with_two_patients() -> None:
    data = LocalData(MII)
    assert sorted(data.patient_ids()) == [
        "mii-exa-test-data-molgen-patient-1",
        "mii-exa-test-data-molgen-patient-2",
        "mii-exa-test-data-onko-patient-1",
        "mii-exa-test-data-patient-3",
    ]
    codes = [c["code"]["coding"][0]["code"] for c in data.resources("mii-exa-test-data-molgen-patient-2", "Condition")]
    assert codes == ["C34.1"]
    med = data.resolve("Medication/mii-exa-test-data-medication-oxaliplatin")
    assert med is not None and med["code"]["coding"][0]["code"] == "L01XA03"
    assert len(data.resources("mii-exa-test-data-patient-3", "MedicationAdministration")) == 3


def test_whole_directory_recursively() -> None:
    data = LocalData(DATA)
    assert len(data) == 14  # 10 Synthea + 4 MII patients
    assert data.files == 13


def test_ndjson_per_type_files(tmp_path: Path) -> None:
    (tmp_path / "Observation.ndjson").write_text(
        json.dumps({"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p1"}})
        + "\n\n"
        + json.dumps({"resourceType": "Observation", "id": "o2", "subject": {"reference": "urn:uuid:p2"}})
        + "\n"
    )
    (tmp_path / "Patient.ndjson").write_text(
        json.dumps({"resourceType": "Patient", "id": "p1"}) + "\n" + json.dumps({"resourceType": "Patient", "id": "p2"})
    )
    data = LocalData(tmp_path)
    assert [o["id"] for o in data.resources("p1", "Observation")] == ["o1"]
    assert [o["id"] for o in data.resources("p2", "Observation")] == ["o2"]


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "Condition.ndjson"
    path.write_text('{"resourceType": "Patient", "id": "p1"}\n{not json\n{"resourceType": "Patient", "id": "p2"}\n')
    with pytest.raises(InputError) as caught:
        LocalData(path)
    assert caught.value.source == f"{path}:2"
    lenient = LocalData(path, strict=False)
    assert sorted(lenient.patient_ids()) == ["p1", "p2"]
    assert [e.source for e in lenient.errors] == [f"{path}:2"]


def test_json_file_without_resource_type_and_missing_path(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"hello": 1}')
    with pytest.raises(InputError, match="no resourceType"):
        LocalData(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        LocalData(tmp_path / "missing")


def test_json_nested_too_deeply_is_one_reported_file(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"resourceType": "Patient", "id": "x", "extension": ' + "[" * 100_000 + "]" * 100_000 + "}")
    data = LocalData(tmp_path, strict=False)
    assert [e.one_line() for e in data.errors] == [f"{deep}: JSON nested too deeply"]
