"""Validate each mapped resource with fhir.resources; a failure is a MappingError with the path.

A resource the fast check of :mod:`conformance` finds certainly valid is not handed to the pydantic models
(they cost about 20 times more); any other resource is, and an invalid one fails with the models' own message
and element path, as before.
"""

from __future__ import annotations

import importlib
import json
from collections import OrderedDict
from functools import cache
from typing import Any

from pydantic import ValidationError

from fhir_adapter.errors import MappingError
from fhir_adapter.mapping.conformance import conforms
from fhir_adapter.mapping.datatypes import JSON
from fhir_adapter.mapping.versions import FhirFlavor


@cache
def model_class(package: str, resource_type: str) -> Any:
    """The fhir.resources model of ``resource_type`` in ``package`` (fhir.resources.R4B or fhir.resources)."""
    module = importlib.import_module(f"{package}.{resource_type.lower()}")
    return getattr(module, resource_type)


_VALIDATED: OrderedDict[tuple[str, str], None] = OrderedDict()
_VALIDATED_MAX = 8192
"""Resources the models found valid in this process, by content: each distinct resource outside the fast check
is validated by the models once (one site, sponsor or investigator appears in many trials)."""


def forget_validated() -> None:
    """Empty the cache of resources found valid (benchmarks measure each round from scratch)."""
    _VALIDATED.clear()


def validate(resource: JSON, version: FhirFlavor, label: str) -> None:
    """Raise MappingError naming ``label`` (type and identifier) and the first failing element path."""
    resource_type = str(resource["resourceType"])
    model = model_class(version.model_package, resource_type)
    if conforms(model, resource):
        return
    key = (version.name, json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    if key in _VALIDATED:
        _VALIDATED.move_to_end(key)
        return
    try:
        model.model_validate(resource)
        _VALIDATED[key] = None
        if len(_VALIDATED) > _VALIDATED_MAX:
            _VALIDATED.popitem(last=False)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(part) for part in first["loc"])
        raise MappingError(
            f"{version.name} validation failed: {first['msg']} ({exc.error_count()} error(s))",
            source=label,
            field=f"{resource_type}.{path}" if path else resource_type,
        ) from exc
