"""Patient data from local files: FHIR Bulk Data NDJSON and Bundles (transaction, collection, searchset).

:class:`LocalData` reads every ``*.ndjson`` / ``*.json`` (optionally ``.gz``) file under the given paths
once and indexes the resources by patient: ``patient id -> resource type -> [resources]``. A resource
belongs to the patient its ``subject`` / ``patient`` / ``beneficiary`` (...) reference names, whether the
reference is ``Patient/<id>``, an absolute URL ending in ``Patient/<id>`` or a ``urn:uuid:`` full URL
that resolves to a Patient entry of the same Bundle (Synthea). Resources without a patient (Medication,
Organization...) are kept for :meth:`LocalData.resolve`.
"""

from __future__ import annotations

import gc
import gzip
import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from fhir_adapter.errors import InputError
from fhir_adapter.fhir.references import reference_key

# Fields that point at the patient a resource is about, in the order they are tried.
PATIENT_FIELDS = ("subject", "patient", "beneficiary", "individual", "for")
_SUFFIXES = (".ndjson", ".json", ".ndjson.gz", ".json.gz")
_EMPTY: tuple[dict[str, Any], ...] = ()


def _open(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _is_data_file(path: Path) -> bool:
    return path.is_file() and path.name.endswith(_SUFFIXES)


def data_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if _is_data_file(p))
        elif path.is_file():
            yield path
        else:
            raise InputError("no such file or directory", source=str(path))


def bulk_type(source: str | Path | None) -> str | None:
    """The type a file is named after, as Bulk export files are (``Observation.ndjson``, ``Observation.002.ndjson``;
    ``source`` may end in ``:line``); None for any other name."""
    name = Path(str(source or "").split(":")[0]).name
    head = name.split(".")[0]
    return head if head[:1].isupper() and head.isalpha() else None


def could_hold(source: str | None, resource_type: str) -> bool:
    """Whether a file may hold resources of the type: Bulk export files are named after theirs
    (``Observation.ndjson``, ``Observation.002.ndjson``); any other file may hold anything."""
    named = bulk_type(source)
    return named is None or named == resource_type


class LocalData:
    """Implements :class:`~fhir_adapter.matching.model.PatientData` over local NDJSON and Bundle files.

    ``strict=True`` (default) raises :class:`InputError` at the first malformed line or file, naming the
    file and line; ``strict=False`` skips it and collects the error in :attr:`errors`.
    ``freeze_gc=True`` moves everything loaded so far out of the cyclic garbage collector's reach
    (``gc.freeze()``): the index is large and long-lived, and screening a 10,000-patient population
    runs about twice as fast. It is process-wide, so it is for one-shot processes such as the CLI,
    not for a service that builds many LocalData objects.
    """

    def __init__(self, *paths: str | Path, strict: bool = True, freeze_gc: bool = False) -> None:
        self.strict = strict
        self.errors: list[InputError] = []
        self._patients: dict[str, dict[str, Any]] = {}
        self._by_patient: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self._shared: dict[tuple[str, str], dict[str, Any]] = {}
        self._by_url: dict[str, dict[str, Any]] = {}
        self.files = 0
        self.resource_count = 0
        for path in data_files(Path(p) for p in paths):
            self._load_file(path)
            self.files += 1
        if freeze_gc:
            gc.freeze()

    # -- PatientData -------------------------------------------------------------------------------------

    def patient(self, patient_id: str) -> dict[str, Any] | None:
        return self._patients.get(patient_id)

    def resources(self, patient_id: str, resource_type: str) -> Sequence[dict[str, Any]]:
        by_type = self._by_patient.get(patient_id)
        if by_type is None:
            return _EMPTY
        return by_type.get(resource_type, _EMPTY)

    def patient_ids(self) -> list[str]:
        return list(self._patients)

    def complete(self, resource_type: str) -> bool:
        """A local export holds every resource of the patients it lists, unless a record that could be of
        this type was skipped as malformed (then the problem list may lack it: decide open-world)."""
        return not any(could_hold(e.source, resource_type) for e in self.errors)

    def resolve(self, reference: str) -> dict[str, Any] | None:
        found = self._by_url.get(reference)
        if found is not None:
            return found
        key = reference_key(reference)
        if key is None:
            return None
        if key[0] == "Patient":
            return self._patients.get(key[1])
        return self._shared.get(key)

    def resource_patient_ids(self) -> list[str]:
        """Every patient some resource is about (whether or not its Patient resource was read)."""
        return list(self._by_patient)

    def shared(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """``Type/id`` → the resources of the type that belong to no patient (Medication...)."""
        return {f"{t}/{rid}": r for (t, rid), r in self._shared.items() if t == resource_type}

    def __len__(self) -> int:
        return len(self._patients)

    # -- loading -----------------------------------------------------------------------------------------

    def _fail(self, message: str, source: str) -> None:
        error = InputError(message, source=source)
        if self.strict:
            raise error
        self.errors.append(error)

    def _load_file(self, path: Path) -> None:
        name = path.name.removesuffix(".gz")
        try:
            with _open(path) as handle:
                if name.endswith(".ndjson"):
                    self._load_ndjson(handle, str(path))
                else:
                    self._load_json(handle.read(), str(path))
        except (OSError, UnicodeDecodeError, EOFError, zlib.error) as exc:
            self._fail(f"cannot read: {exc}", str(path))

    def _load_ndjson(self, handle: IO[str], source: str) -> None:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                resource = json.loads(line)
            except json.JSONDecodeError as exc:
                self._fail(f"malformed JSON: {exc.msg}", f"{source}:{number}")
                continue
            except RecursionError:
                self._fail("JSON nested too deeply", f"{source}:{number}")
                continue
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                self._fail("not a FHIR resource (no resourceType)", f"{source}:{number}")
                continue
            self.add(resource, f"{source}:{number}")

    def _load_json(self, text: str, source: str) -> None:
        try:
            resource = json.loads(text)
        except json.JSONDecodeError as exc:
            self._fail(f"malformed JSON at line {exc.lineno}: {exc.msg}", source)
            return
        except RecursionError:
            self._fail("JSON nested too deeply", source)
            return
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            self._fail("not a FHIR resource or Bundle (no resourceType)", source)
            return
        self.add(resource, source)

    def add(self, resource: dict[str, Any], source: str) -> None:
        """Index one parsed resource (a Bundle: each of its entries) read from ``source``."""
        if resource["resourceType"] == "Bundle":
            self._load_bundle(resource, source)
        else:
            self._add(resource, {}, source)

    def _load_bundle(self, bundle: dict[str, Any], source: str) -> None:
        entries = bundle.get("entry") or []
        if not isinstance(entries, list):
            self._fail("Bundle.entry is not a list", source)
            return
        urls: dict[str, tuple[str, str]] = {}
        resources: list[dict[str, Any]] = []
        for index, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                self._fail(f"entry[{index}] has no resource", source)
                continue
            rtype = resource["resourceType"]
            if not resource.get("id"):
                # PUT Patient/<id> carries the id in the request; POST urn:uuid:<x> gets <x>.
                request_key = reference_key(str((entry.get("request") or {}).get("url", "")))
                full_url = str(entry.get("fullUrl", ""))
                if request_key and request_key[0] == rtype:
                    resource["id"] = request_key[1]
                elif full_url.startswith("urn:uuid:"):
                    resource["id"] = full_url.removeprefix("urn:uuid:")
            full_url = entry.get("fullUrl")
            if isinstance(full_url, str) and resource.get("id"):
                urls[full_url] = (rtype, str(resource["id"]))
                self._by_url[full_url] = resource
            resources.append(resource)
        for resource in resources:
            if resource["resourceType"] == "Bundle":
                self._load_bundle(resource, source)
            else:
                self._add(resource, urls, source)

    def _patient_of(self, resource: dict[str, Any], urls: dict[str, tuple[str, str]]) -> str | None:
        for field in PATIENT_FIELDS:
            value = resource.get(field)
            if isinstance(value, list):  # beneficiary/for are single; some profiles use lists
                value = value[0] if value else None
            if not isinstance(value, dict):
                continue
            reference = value.get("reference")
            if not isinstance(reference, str):
                continue
            key = urls.get(reference) or reference_key(reference)
            if key is None and reference.startswith("urn:uuid:"):
                key = ("Patient", reference.removeprefix("urn:uuid:"))  # NDJSON: Synthea ids are the uuids
            if key is not None and key[0] == "Patient":
                return key[1]
        return None

    def _add(self, resource: dict[str, Any], urls: dict[str, tuple[str, str]], source: str) -> None:
        self.resource_count += 1
        rtype: str = resource["resourceType"]
        rid = resource.get("id")
        if rtype == "Patient":
            if rid:
                self._patients[str(rid)] = resource
            else:
                self._fail("Patient resource has no id", source)
            return
        patient_id = self._patient_of(resource, urls)
        if patient_id is None:
            if rid:
                self._shared[(rtype, str(rid))] = resource
            return
        self._by_patient.setdefault(patient_id, {}).setdefault(rtype, []).append(resource)
