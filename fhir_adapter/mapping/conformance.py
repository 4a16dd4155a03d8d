"""A fast pre-check that a resource validates with its fhir.resources model, sound by construction.

Why: fhir.resources validates every nested element with Python validators that loop over all the fields of the
element's model (an Extension has 55), so validation was most of the conversion time. This check walks the same
JSON against a table read once per model from the model's own field declarations, and answers "certainly valid"
or "not sure". ``True`` implies ``model.model_validate(data)`` succeeds; ``False`` implies nothing, and the
caller runs the real validation (which also gives the error path). So the check may be stricter than
fhir.resources (anything unusual is "not sure"), never looser:

* keys: only the aliases of the model's fields (the models forbid extra keys; names other than aliases, which
  the models also accept, are "not sure"), plus ``resourceType`` equal to the model's resource type;
* values: never None; a complex element is a dict checked against the model the field's annotation names (the
  same ``get_model_klass`` fhir.resources calls); a list of them is a non-empty list of such dicts; a primitive
  is checked by a pydantic TypeAdapter built from the field's own annotation, i.e. the same core schema;
* required elements (declared without a default, or listed by the model's after-validator) present;
* the after-validator's choices: at most one (exactly one when required) element of each ``value[x]``;
* a model is only supported when it adds no validators, config or __init__ of its own beyond the ones above
  (read from pydantic's decorator table), and every optional field defaults to None; any other model (such as
  FHIRPrimitiveExtension, contained resources) is "not sure".

tests/mapping/test_conformance.py checks the implication on mutated corpus resources.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any, Literal

from fhir_core.fhirabstractmodel import FHIRAbstractModel
from fhir_core.types import FhirBase, FhirElementOrResourceBase
from pydantic import TypeAdapter
from pydantic.fields import FieldInfo

_KNOWN_CONFIG = frozenset({"extra", "validate_assignment", "populate_by_name"})
"""Model config keys that change nothing for a primitive value (TypeAdapters use the default config)."""
_KNOWN_VALIDATORS: dict[str, Any] = {
    "reject_null_complex_elements": getattr(FHIRAbstractModel.reject_null_complex_elements, "__func__", None),
    "validate_after_model_construction": FHIRAbstractModel.validate_after_model_construction,
}
_BASE_METHODS = ("__init__", "model_validate", "_validate_one_of_many", "_validate_required_primitive_elements")


class Field:
    """How the value under one alias is checked: against a model (``target``: the annotation's FHIR type), or
    as a primitive (``annotation``/``metadata``: the field's declaration). Both resolve on first use, so a model
    with 55 fields imports and builds only what the data uses."""

    __slots__ = ("annotation", "check", "many", "metadata", "shape", "target")

    def __init__(self, target: type[FhirBase] | None, many: bool, annotation: Any, metadata: tuple[Any, ...]) -> None:
        self.target = target
        self.many = many
        self.annotation = annotation
        self.metadata = metadata
        self.shape: Shape | Literal[False] | None = False  # False: not resolved yet
        self.check: Callable[[Any], Any] | None = None

    def resolve_shape(self) -> Shape | None:
        assert self.target is not None
        try:
            model = self.target.get_model_klass()
        except Exception:  # a model that does not import: "not sure", and the models will say why
            model = None
        self.shape = shape_of(model) if model is not None else None
        return self.shape

    def resolve_check(self) -> Callable[[Any], Any]:
        try:
            self.check = _adapter(self.annotation, self.metadata).validator.validate_python
        except Exception:  # a type pydantic cannot build a validator for on its own: always "not sure"
            self.check = _not_sure
        return self.check


def _not_sure(value: Any) -> Any:
    raise ValueError("no fast check for this field")


class Shape:
    """What one model accepts, as read from its declarations."""

    __slots__ = ("choices", "fields", "required", "resource_type")

    def __init__(
        self, resource_type: str, fields: dict[str, Field], required: tuple[str, ...],
        choices: tuple[tuple[frozenset[str], bool], ...],
    ) -> None:
        self.resource_type = resource_type
        self.fields = fields
        self.required = required
        self.choices = choices


def conforms(model: type[FHIRAbstractModel], data: Any) -> bool:
    """True when ``model.model_validate(data)`` certainly succeeds; False when not sure (validate for real)."""
    return _conforms(shape_of(model), data)


def _conforms(shape: Shape | None, data: Any) -> bool:
    # One loop over the keys, with the field's check inlined: this runs for every element of every resource.
    if shape is None or not isinstance(data, dict):
        return False
    fields = shape.fields
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            if key == "resourceType" and value == shape.resource_type:
                continue
            return False
        if value is None:
            return False
        if field.target is None:
            check = field.check or field.resolve_check()
            try:
                check(value)
            except Exception:  # a ValidationError, or anything else a validator raises: not sure either way
                return False
            continue
        child = field.resolve_shape() if field.shape is False else field.shape
        if not field.many:
            if not _conforms(child, value):
                return False
            continue
        if type(value) is not list or not value:
            return False
        for item in value:
            if not _conforms(child, item):
                return False
    for alias in shape.required:
        if alias not in data:
            return False
    for aliases, required in shape.choices:
        present = len(aliases.intersection(data))
        if present > 1 or (required and not present):
            return False
    return True


@cache
def shape_of(model: type[FHIRAbstractModel]) -> Shape | None:
    """The model's table, or None when it is not a model this check understands (always "not sure")."""
    try:
        return _read_shape(model)
    except Exception:  # declarations this reading does not expect: leave the model to pydantic
        return None


def _read_shape(model: type[FHIRAbstractModel]) -> Shape | None:
    if not _plain_model(model):
        return None
    fields: dict[str, Field] = {}
    required: list[str] = []
    for name, info in model.model_fields.items():
        alias = info.alias or name
        if info.is_required():
            required.append(alias)  # declared without a default (``Field(...)``)
        elif info.default is not None or info.default_factory is not None:
            return None
        if alias in fields or (alias != name and alias in model.model_fields):
            return None  # an alias that is also another field's name: ambiguous, leave it to pydantic
        field = _field(info)
        if field is not None:
            fields[alias] = field
    instance = model.model_construct()
    element_names = model.get_alias_mapping()
    for name, _ in instance.get_required_fields():
        if name not in element_names:
            return None  # the model's own check would fail with a KeyError
        required.append(name)
    if any(name not in fields for name in required):
        return None
    choices = []
    for prefix, names in instance.get_one_of_many_fields().items():
        extra = model.model_fields[names[0]].json_schema_extra
        if not isinstance(extra, dict) or extra.get("one_of_many") != prefix:
            return None  # the model's own assertion would fail
        aliases = frozenset(model.model_fields[name].alias or name for name in names)
        choices.append((aliases, extra.get("one_of_many_required") is True))
    return Shape(str(model.__resource_type__), fields, tuple(dict.fromkeys(required)), tuple(choices))


def _plain_model(model: type[FHIRAbstractModel]) -> bool:
    """Only the validation FHIRAbstractModel itself declares (see the module docstring)."""
    if not issubclass(model, FHIRAbstractModel) or set(model.model_config) - _KNOWN_CONFIG:
        return False
    decorators = model.__pydantic_decorators__
    if decorators.validators or decorators.field_validators or decorators.root_validators:
        return False
    for name, decorator in decorators.model_validators.items():
        if _KNOWN_VALIDATORS.get(name) is not getattr(decorator.func, "__func__", decorator.func):
            return False
    return all(_inherited(model, method) for method in _BASE_METHODS)


def _inherited(model: type[FHIRAbstractModel], method: str) -> bool:
    """``method`` of ``model`` is FHIRAbstractModel's (or pydantic's, for model_validate), not an override."""
    mine = getattr(model, method)
    base = getattr(FHIRAbstractModel, method)
    return getattr(mine, "__func__", mine) is getattr(base, "__func__", base)


def _field(info: FieldInfo) -> Field | None:
    """The check of one field, or None for a field the check does not handle (its key makes it "not sure")."""
    inner = _without_none(info.annotation)
    many = typing.get_origin(inner) is list
    element = typing.get_args(inner)[0] if many else inner
    if isinstance(element, type) and issubclass(element, FhirBase):
        if issubclass(element, FhirElementOrResourceBase):
            return None  # contained resources: any resource type, chosen from the value
        return Field(element, many, None, ())
    if _mentions_fhir_type(info.annotation):
        return None
    return Field(None, False, info.annotation, tuple(info.metadata))


def _without_none(annotation: Any) -> Any:
    """``X`` of ``X | None`` / ``Optional[X]``; anything else as it is."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _mentions_fhir_type(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, FhirBase):
        return True
    return any(_mentions_fhir_type(arg) for arg in typing.get_args(annotation))


def _adapter(annotation: Any, metadata: tuple[Any, ...]) -> TypeAdapter[Any]:
    """The validator pydantic builds for a field of this annotation and metadata, shared by the fields that
    declare the same type."""
    try:
        return _shared_adapter(annotation, metadata)
    except TypeError:  # unhashable metadata
        return _new_adapter(annotation, metadata)


@cache
def _shared_adapter(annotation: Any, metadata: tuple[Any, ...]) -> TypeAdapter[Any]:
    return _new_adapter(annotation, metadata)


def _new_adapter(annotation: Any, metadata: tuple[Any, ...]) -> TypeAdapter[Any]:
    return TypeAdapter(typing.Annotated[(annotation, *metadata)] if metadata else annotation)
