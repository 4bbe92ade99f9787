"""Schemas derived from the typed classes of :mod:`flask_huggy.models`, so that a field is declared once.

Each attribute's type picks the field that reads it the way Huggy sends it:

=============================  =============================================
Attribute type (``| None``)    Field
=============================  =============================================
``int``                        :class:`~.fields.Id` (``sent_as(count=True)``: :class:`~.fields.Integer`)
``bool``                       :class:`~.fields.Flag`
``str``                        :class:`~.fields.Text`
``datetime``                   :class:`~.fields.HuggyDateTime`
``Mapping[str, Any]``          :class:`~.fields.LooseMapping`
``Any``                        ``fields.Raw``: kept as sent
a class (``Contact``)          :class:`~.fields.LooseNested` of that class's schema
``tuple[NamedRef, ...]``       a list of those
``str | Channel``              :class:`~.fields.Either`: the scalar, or the object
=============================  =============================================

The field is named by Huggy's key (:func:`~flask_huggy.models.sent_as`, else the
attribute's name), so that a loaded dict keeps Huggy's keys.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Union, get_args, get_origin, get_type_hints

from marshmallow import fields

from ..models import HuggyObject, snake_case
from .base import HuggySchema
from .fields import (
    AnyField,
    Either,
    Flag,
    HuggyDateTime,
    Id,
    Integer,
    LooseMapping,
    LooseNested,
    Text,
)

_SCALARS: dict[Any, type[AnyField]] = {bool: Flag, str: Text, datetime: HuggyDateTime}
_classes: dict[type[HuggyObject], type[HuggySchema]] = {}
_instances: dict[type[HuggyObject], HuggySchema] = {}


def schema_for(model: type[HuggyObject]) -> HuggySchema:
    """The schema instance that loads ``model``'s objects, shared by every event of that shape.

    A class that only renames its base (``ReceivedMessage(Message)``) shares its
    base's schema: one schema serves the four message events, each with its class.
    """
    shape = shape_of(model)
    if shape not in _instances:
        _instances[shape] = schema_class(shape)()
    return _instances[shape]


def shape_of(model: type[HuggyObject]) -> type[HuggyObject]:
    """The furthest base of ``model`` declaring the same attributes (``ReceivedMessage`` -> ``Message``)."""
    names = _attributes(model)
    for base in model.__mro__[1:]:
        if base is HuggyObject or not issubclass(base, HuggyObject) or _attributes(base) != names:
            break
        model = base
    return model


def schema_class(model: type[HuggyObject]) -> type[HuggySchema]:
    """A :class:`HuggySchema` subclass with one field per attribute of ``model`` (``extra`` aside).

    Made once per class, so that every field nesting ``Contact`` nests the same schema class.
    """
    if model in _classes:
        return _classes[model]
    hints = get_type_hints(model)
    declared: dict[str, Any] = {}
    for attribute in dataclasses.fields(model):
        if attribute.name == "extra":
            continue
        key = attribute.metadata.get("key") or attribute.name
        if snake_case(key) != attribute.name:
            raise TypeError(f"{model.__name__}.{attribute.name}: Huggy's key {key!r} is not its camelCase")
        declared[key] = field_for(hints[attribute.name], count=attribute.metadata.get("count", False))
    namespace = {"__module__": __name__, "__doc__": model.__doc__, "__qualname__": f"{model.__name__}Schema"}
    _classes[model] = type(f"{model.__name__}Schema", (HuggySchema,), {**namespace, "model": model, **declared})
    return _classes[model]


def field_for(hint: Any, *, count: bool = False) -> AnyField:
    """The marshmallow field for an attribute annotated ``hint``."""
    if hint is Any:
        return fields.Raw(allow_none=True)
    shapes = [arg for arg in _union_args(hint) if arg is not type(None)]
    if len(shapes) == 2:
        scalar, obj = shapes
        return Either(field_for(scalar, count=count), schema_class(obj))
    if len(shapes) != 1:
        raise TypeError(f"No field reads {hint!r}")
    (shape,) = shapes
    origin = get_origin(shape)
    if origin is tuple:
        item, _ = get_args(shape)
        return fields.List(LooseNested(schema_class(item)), allow_none=True)
    if origin is Mapping:
        return LooseMapping()
    if shape is int:
        return Integer() if count else Id()
    if shape in _SCALARS:
        return _SCALARS[shape]()
    if isinstance(shape, type) and issubclass(shape, HuggyObject):
        return LooseNested(schema_class(shape))
    raise TypeError(f"No field reads {hint!r}")


def _union_args(hint: Any) -> tuple[Any, ...]:
    if isinstance(hint, types.UnionType) or get_origin(hint) is Union:
        return get_args(hint)
    return (hint,)


def _attributes(model: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(model))


__all__ = ["field_for", "schema_class", "schema_for", "shape_of"]
