"""The base schema every Huggy schema derives from, and how its data becomes a typed object."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from marshmallow import INCLUDE, Schema, fields

from ..models import HuggyObject, snake_case
from .fields import AnyField, Either, LooseMapping


class HuggySchema(Schema):
    """A schema that keeps what it does not know.

    Huggy adds fields without notice; a receiver must still get them, so unknown
    keys are included as sent rather than rejected or dropped.
    """

    class Meta:
        unknown = INCLUDE

    #: The :mod:`flask_huggy.models` class that :meth:`build_object` makes. Loading
    #: still returns a dict (``Event.data``); the object is built apart, on demand.
    model: ClassVar[type[HuggyObject]] = HuggyObject

    def build_object(self, data: Mapping[str, Any], model: type[HuggyObject] | None = None) -> HuggyObject:
        """The typed object for ``data``, a mapping this schema has loaded.

        Declared keys become snake_case attributes (``senderType`` -> ``sender_type``),
        nested objects become their schema's model, lists of them tuples; keys the
        schema does not declare go, as sent, in ``extra``. ``model`` overrides
        :attr:`model`, for a schema that several events share.
        """
        model = model or self.model
        attributes = {f.name for f in dataclasses.fields(model) if f.name != "extra"}
        by_key = {field.attribute or name: field for name, field in self.load_fields.items()}
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            field = by_key.get(key)
            if field is not None and (attribute := snake_case(key)) in attributes:
                values[attribute] = _to_object(field, value)
            else:
                extra[key] = value
        return model(**values, extra=extra)


def _to_object(field: AnyField, value: Any) -> Any:
    """One loaded value as its typed attribute."""
    if value is None:
        return None
    if isinstance(field, Either):
        # The scalar shape stays as loaded; only the object shape has a class.
        return _to_object(field.nested, value) if isinstance(value, Mapping) else value
    if isinstance(field, fields.Nested):
        schema = field.schema
        if isinstance(schema, HuggySchema) and isinstance(value, Mapping):
            return schema.build_object(value)
        return value
    if isinstance(field, fields.List):
        # An item Huggy sent as ``false`` loads as ``None``; the tuple leaves it out
        # (``Event.data`` still has it) so that its type stays ``tuple[Model, ...]``.
        items = (_to_object(field.inner, item) for item in value)
        return tuple(item for item in items if item is not None)
    if isinstance(field, LooseMapping):
        return dict(value)  # a copy: the object must not change when Event.data does
    return value


__all__ = ["HuggySchema", "snake_case"]
