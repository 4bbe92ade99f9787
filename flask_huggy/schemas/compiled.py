"""Plain-Python loaders derived from the event schemas, for the well-formed common case.

marshmallow stays the source of truth. :func:`compile_loader` reads a schema's
declared fields and builds, from small converters that mirror the fields of
:mod:`flask_huggy.schemas.fields` exactly, a loader that returns what
``schema.load`` returns for a delivery of the expected shape, about ten times
faster. On anything it is not certain about (an unexpected type, a value the
field would refuse, a field or schema option it does not know) it gives up and
the real ``schema.load`` runs, so that errors and edge cases are marshmallow's
own, message for message.

Key order follows marshmallow too: declared fields in declaration order, then the
unknown keys in the order marshmallow's ``set(data) - fields`` gives them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timezone, tzinfo
from typing import Any

from marshmallow import EXCLUDE, INCLUDE, RAISE, Schema, fields, missing

from .envelope import EpochTime, Messages
from .fields import (
    _INTEGER,
    Either,
    Flag,
    HuggyDateTime,
    Id,
    Integer,
    LooseMapping,
    LooseNested,
    Text,
    local_timezone,
)

#: A compiled converter or loader: ``(value, tz) -> loaded value``; raises on doubt.
Converter = Callable[[Any, tzinfo], Any]

_UTC = timezone.utc
_FLAG_TRUE = Flag._TRUE
_FLAG_FALSE = Flag._FALSE


class Unsure(Exception):
    """A compiled loader met a value it cannot vouch for; marshmallow must decide."""


def compile_loader(schema: Schema) -> Callable[[Any, tzinfo], dict[str, Any]]:
    """A function ``(raw, tz) -> dict`` equal to ``schema.load(raw)`` read in ``tz``.

    The fast path handles what it knows; everything else, errors included, goes
    to ``schema.load`` inside :func:`~flask_huggy.schemas.fields.local_timezone`,
    so a ``ValidationError`` carries marshmallow's exact messages.
    """
    fast = _compile_schema(schema, {})

    def load(raw: Any, tz: tzinfo) -> dict[str, Any]:
        try:
            return fast(raw, tz)  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001, S110 - any doubt at all: marshmallow decides, below
            pass
        with local_timezone(tz):
            data: dict[str, Any] = schema.load(raw)
        return data

    load.fast = fast  # type: ignore[attr-defined]  # for tests and benchmarks
    return load


def _unsure(value: Any, tz: tzinfo) -> Any:
    raise Unsure


def _schema_is_plain(schema: Schema) -> bool:
    """Whether ``load`` is nothing but field-by-field deserialisation."""
    cls = type(schema)
    return (
        not any(schema._hooks.values())
        and not schema.many
        and not schema.partial
        and schema.unknown in (INCLUDE, EXCLUDE, RAISE)
        and schema.dict_class is dict
        and cls.load is Schema.load
        and cls._do_load is Schema._do_load
        and cls._deserialize is Schema._deserialize
        and cls._invoke_field_validators is Schema._invoke_field_validators
    )


def _field_is_plain(field: Any) -> bool:
    """Whether ``field.deserialize`` is only ``None`` handling plus ``_deserialize``."""
    return (
        type(field).deserialize is fields.Field.deserialize
        and not field.validators
        and not getattr(field, "pre_load", None)
        and not getattr(field, "post_load", None)
        and field.load_default is missing
        and field.data_key is None
        and field.attribute is None
    )


def _compile_schema(schema: Schema, seen: dict[int, Converter]) -> Converter:
    if id(schema) in seen:
        return seen[id(schema)]
    seen[id(schema)] = _unsure  # a schema nested in itself is left to marshmallow
    if not _schema_is_plain(schema):
        return _unsure
    plan: list[tuple[str, Converter]] = []
    for name, field in schema.load_fields.items():
        convert = _compile_field(field, seen)
        if convert is _unsure:
            return _unsure
        plan.append((name, convert))
    required = frozenset(name for name, field in schema.load_fields.items() if field.required)
    loader = _make_loader(tuple(plan), required, schema.unknown)
    seen[id(schema)] = loader
    return loader


def _make_loader(plan: tuple[tuple[str, Converter], ...], required: frozenset[str], unknown: str) -> Converter:
    declared = {name for name, _ in plan}
    absent = object()

    def load(data: Any, tz: tzinfo) -> dict[str, Any]:
        if type(data) is not dict or (required and not required.issubset(data)):
            raise Unsure
        out: dict[str, Any] = {}
        get = data.get
        for key, convert in plan:  # declaration order, as marshmallow
            value = get(key, absent)
            if value is not absent:
                out[key] = convert(value, tz)
        if len(out) != len(data):  # out holds exactly the declared keys that were sent
            if unknown == RAISE:
                raise Unsure
            if unknown == INCLUDE:
                # The very expression marshmallow iterates, hence the same key order.
                for key in set(data) - declared:
                    out[key] = data[key]
        return out

    return load


def _compile_field(field: Any, seen: dict[int, Converter]) -> Converter:
    convert = _compile_value(field, seen)
    if convert is _unsure or field.allow_none:
        return convert

    def refuse_none(value: Any, tz: tzinfo) -> Any:
        if value is None:
            raise Unsure
        return convert(value, tz)

    return refuse_none


def _compile_value(field: Any, seen: dict[int, Converter]) -> Converter:
    if not _field_is_plain(field):
        return _unsure
    kind = type(field)
    if kind is Id or kind is Integer:
        return _load_id
    if kind is Text:
        return _load_text
    if kind is Flag:
        return _load_flag
    if kind is HuggyDateTime:
        return _load_moment
    if kind is LooseMapping:
        return _load_mapping
    if kind is EpochTime:
        return _load_epoch
    if kind is Messages:
        return _load_messages
    if kind is fields.Raw:
        return _load_raw
    if kind is LooseNested:
        return _nested_converter(field, seen)
    if kind is Either:
        nested = _nested_converter(field.nested, seen)
        scalar = _compile_field(field.scalar, seen)
        if nested is _unsure or scalar is _unsure:
            return _unsure
        return _either_converter(scalar, nested)
    if kind is fields.List:
        inner = _compile_field(field.inner, seen)
        if inner is _unsure:
            return _unsure
        return _list_converter(inner)
    return _unsure


def _nested_converter(field: Any, seen: dict[int, Converter]) -> Converter:
    if (
        type(field) is not LooseNested
        or not _field_is_plain(field)
        or not field.allow_none
        or field.unknown is not None
        or field.only is not None
        or field.exclude
        or field.many
    ):
        return _unsure
    load = _compile_schema(field.schema, seen)
    if load is _unsure:
        return _unsure

    def convert(value: Any, tz: tzinfo) -> Any:
        kind = type(value)
        if kind is dict:
            return load(value, tz)
        if value is None or value is False or (kind is str and value == "") or (kind is list and not value):
            return None
        raise Unsure

    return convert


def _either_converter(scalar: Converter, nested: Converter) -> Converter:
    def convert(value: Any, tz: tzinfo) -> Any:
        kind = type(value)
        if kind is dict:
            return nested(value, tz)
        if value is None or value is False or (kind is str and value == "") or (kind is list and not value):
            return None
        return scalar(value, tz)

    return convert


def _list_converter(inner: Converter) -> Converter:
    def convert(value: Any, tz: tzinfo) -> Any:
        if type(value) is list:
            return [inner(item, tz) for item in value]
        if value is None:
            return None
        raise Unsure

    return convert


def _load_id(value: Any, tz: tzinfo) -> int | None:
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    if value is None:
        return None
    if kind is str:
        if value == "":
            return None
        if (value.isascii() and value.isdigit() and len(value) <= 30) or _INTEGER.fullmatch(value):
            return int(value)
    elif kind is float and value.is_integer():
        return int(value)
    raise Unsure


def _load_text(value: Any, tz: tzinfo) -> str | None:
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if value is None:
        return None
    if kind is int or kind is float:
        return str(value)
    raise Unsure


def _load_flag(value: Any, tz: tzinfo) -> bool | None:
    kind = type(value)
    if kind is bool:
        return value  # type: ignore[no-any-return]
    if value is None:
        return None
    if kind is int and (value == 0 or value == 1):
        return value == 1  # type: ignore[no-any-return]
    if kind is str:
        lowered = value.strip().lower()
        if lowered in _FLAG_TRUE:
            return True
        if lowered in _FLAG_FALSE:
            return False
    raise Unsure


def _load_moment(value: Any, tz: tzinfo) -> datetime | None:
    kind = type(value)
    if kind is str:
        if value == "":
            return None
        moment = datetime.fromisoformat(value.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        return moment.astimezone(_UTC)
    if value is None or value is False:
        return None
    if kind is int or kind is float:
        seconds = value / 1000 if abs(value) >= 1e11 else value
        return datetime.fromtimestamp(seconds, _UTC)
    raise Unsure


def _load_mapping(value: Any, tz: tzinfo) -> dict[str, Any] | None:
    kind = type(value)
    if kind is dict:
        return dict(value)
    if value is None:
        return None
    if kind is list and not value:
        return {}
    raise Unsure


def _load_epoch(value: Any, tz: tzinfo) -> datetime | None:
    kind = type(value)
    if kind is int or (kind is float and not math.isnan(value)):
        seconds = value / 1000 if abs(value) >= 1e11 else value
        return datetime.fromtimestamp(seconds, _UTC)
    if value is None:
        return None
    raise Unsure


def _load_messages(value: Any, tz: tzinfo) -> list[tuple[str, dict[str, Any]]]:
    kind = type(value)
    if kind is dict:
        events = []
        for name, items in value.items():
            if type(items) is not list:
                raise Unsure
            for item in items:
                if type(item) is not dict:
                    raise Unsure
                events.append((name, item))
        return events
    if kind is list and not value:
        return []
    raise Unsure


def _load_raw(value: Any, tz: tzinfo) -> Any:
    return value


__all__ = ["Converter", "Unsure", "compile_loader"]
