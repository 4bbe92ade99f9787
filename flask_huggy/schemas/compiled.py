"""Plain-Python loaders derived from the event schemas, for the well-formed common case.

marshmallow stays the source of truth. :func:`compile_loader` reads a schema's
declared fields and builds, from small converters that mirror the fields of
:mod:`flask_huggy.schemas.fields` exactly, a loader that returns what
``schema.load`` returns for a delivery of the expected shape, fifteen to twenty
times faster. On anything it is not certain about (an unexpected type, a value the
field would refuse, a field or schema option it does not know) it gives up and
the real ``schema.load`` runs, so that errors and edge cases are marshmallow's
own, message for message.

Key order follows marshmallow too: declared fields in declaration order, then the
unknown keys in the order marshmallow's ``set(data) - fields`` gives them.

The loaders are Python source written from the schema and compiled once (as
:mod:`dataclasses` writes ``__init__``), and specialised to each key sequence
Huggy sends (:class:`_ShapeLoaders`): on objects this small, the interpreter's
cost is per bytecode, and a loop that looks every declared field up spends more
than the conversions themselves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timezone, tzinfo
from typing import Any, NamedTuple

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
    plan: list[_Step] = []
    for name, field in schema.load_fields.items():
        convert = _compile_field(field, seen)
        if convert is _unsure:
            return _unsure
        plan.append(_step(name, field, convert, seen))
    required = frozenset(name for name, field in schema.load_fields.items() if field.required)
    loader = _ShapeLoaders(tuple(plan), required, schema.unknown).load
    seen[id(schema)] = loader
    return loader


class _Step(NamedTuple):
    """One declared field of a compiled loader."""

    name: str
    #: The field's converter: right for any value, raises :class:`Unsure` on doubt.
    convert: Converter
    #: How the generated code treats the common value without calling ``convert``:
    #: ``"raw"`` keeps any value, ``"same"`` keeps a value of type ``helper``,
    #: ``"nested"`` loads a dict with ``helper``; ``"call"`` always calls.
    shortcut: str
    helper: Any
    allow_none: bool


#: Field kinds whose converter returns a value of this exact type unchanged.
_PASSTHROUGH: dict[type, type] = {Id: int, Integer: int, Text: str, Flag: bool}


def _step(name: str, field: Any, convert: Converter, seen: dict[int, Converter]) -> _Step:
    # Each shortcut gives exactly what the converter gives for those values: the
    # converters return such values unchanged (None only when the field allows
    # it), and a LooseNested converter loads a dict with the nested schema.
    kind = type(field)
    if kind is fields.Raw and field.allow_none:
        return _Step(name, convert, "raw", None, True)
    if kind in _PASSTHROUGH:
        return _Step(name, convert, "same", _PASSTHROUGH[kind], field.allow_none)
    if kind is LooseNested:
        nested = getattr(_compile_schema(field.schema, seen), "__self__", None)
        if isinstance(nested, _ShapeLoaders):
            return _Step(name, convert, "nested", nested, field.allow_none)
    return _Step(name, convert, "call", None, field.allow_none)


def _unchanged(step: _Step, index: int, value: str) -> str | None:
    """Source of a test that ``step`` loads the value in variable ``value`` as itself, if there is one."""
    if step.shortcut == "raw":
        return "True"
    if step.shortcut == "same":
        condition = f"type({value}) is helper_{index}"
        return f"{value} is None or {condition}" if step.allow_none else condition
    # marshmallow's Field.deserialize answers None to None before the field's own
    # code runs, when the field allows it (_field_is_plain checked it is not overridden).
    return f"{value} is None" if step.allow_none else None


def _expression(step: _Step, index: int, value: str) -> str:
    """Source for the loaded value of ``step`` (the ``index``-th field) held in variable ``value``."""
    call = f"convert_{index}({value}, tz)"
    if step.shortcut == "raw":
        return value
    if step.shortcut == "same":
        if step.helper is int:
            # An id as a string of digits, as Huggy often writes them: _load_id's first case, inline.
            call = f"int({value}) if type({value}) is str and {value}.isdigit() and {value}.isascii() and len({value}) <= 30 else {call}"
        return f"{value} if {_unchanged(step, index, value)} else {call}"
    if step.shortcut == "nested":
        # The nested loader's own shape lookup, inline: one call per object, not two.
        call = f"(shape_{index}(tuple({value})) or learn_{index}({value}))({value}, tz) if type({value}) is dict else {call}"
    return f"None if {value} is None else {call}" if step.allow_none else call


def _define(lines: list[str], namespace: dict[str, Any], what: str) -> Converter:
    # The source only ever names variables: field names and keys live in
    # ``namespace``, so nothing a delivery sends is ever part of the code.
    exec(compile("\n".join(lines), f"<flask_huggy loader: {what}>", "exec"), namespace)  # noqa: S102
    load: Converter = namespace["load"]
    return load


#: Key sequences remembered per schema; beyond them, the general loader serves.
MAX_SHAPES = 64
#: Objects with more keys, or longer keys in all, are never given a shape loader.
MAX_SHAPE_KEYS = 64
MAX_SHAPE_KEY_CHARS = 2048


class _ShapeLoaders:
    """The compiled loader of one schema, specialised by the shape of the data.

    Huggy sends each kind of object with the same keys in the same order, so the
    loader learns each key sequence it meets (up to :data:`MAX_SHAPES`) and
    writes, once, a function for exactly those keys: it unpacks the values by
    position and builds the result in one dict display, with no lookup, no
    presence test and no unknown-key pass, or, when every value loads as itself
    and the keys are already in marshmallow's order, copies the dict in C. That
    is where Python spends its time on small objects; the shape costs one
    ``tuple(data)`` lookup. Any other
    object, and the rare hostile shape beyond the limits, takes the general
    loader written for the schema, which looks each declared field up.
    """

    def __init__(self, plan: tuple[_Step, ...], required: frozenset[str], unknown: str) -> None:
        self.plan = plan
        self.required = required
        self.unknown = unknown
        self.declared = frozenset(step.name for step in plan)
        self.namespace: dict[str, Any] = {"Unsure": Unsure}
        for index, step in enumerate(plan):
            self.namespace[f"convert_{index}"] = step.convert
            self.namespace[f"helper_{index}"] = step.helper
            self.namespace[f"name_{index}"] = step.name
            if step.shortcut == "nested":
                self.namespace[f"shape_{index}"] = step.helper.shapes.get
                self.namespace[f"learn_{index}"] = step.helper.learn
        self.general = self._general()
        self.shapes: dict[tuple[Any, ...], Converter] = {}

    def load(self, data: Any, tz: tzinfo) -> dict[str, Any]:
        if type(data) is not dict:
            raise Unsure
        return (self.shapes.get(tuple(data)) or self.learn(data))(data, tz)  # type: ignore[no-any-return]

    def learn(self, data: dict[Any, Any]) -> Converter:
        """The loader for ``data``'s shape, written now (and kept, within limits)."""
        if (
            len(self.shapes) >= MAX_SHAPES
            or len(data) > MAX_SHAPE_KEYS
            or not all(type(key) is str for key in data)
            or sum(map(len, data)) > MAX_SHAPE_KEY_CHARS
        ):
            return self.general
        shaped = self._for_shape(data)
        self.shapes[tuple(data)] = shaped
        return shaped

    def _for_shape(self, data: dict[str, Any]) -> Converter:
        namespace = dict(self.namespace)
        if not self.required.issubset(data):
            return _unsure
        position = {key: index for index, key in enumerate(data)}
        entries = [
            f"name_{index}: {_expression(step, index, f'v{position[step.name]}')}"
            for index, step in enumerate(self.plan)  # declaration order, as marshmallow
            if step.name in position
        ]
        # The very expression marshmallow iterates for unknown keys, on this very
        # dict: for one key sequence its order is always the same.
        extras = list(set(data) - self.declared)
        if extras and self.unknown == RAISE:
            return _unsure
        if extras and self.unknown == INCLUDE:
            for index, key in enumerate(extras):
                namespace[f"extra_{index}"] = key
                entries.append(f"extra_{index}: v{position[key]}")
        lines = ["def load(data, tz):"]
        if len(data) == 1:
            lines.append("    v0, = data.values()")
        elif data:
            lines.append(f"    {', '.join(f'v{index}' for index in range(len(data)))} = data.values()")
        unchanged = self._unchanged_when(data, extras)
        if unchanged is not None:
            # Every value would load as itself, keys in the same order: a C-level copy
            # is the same dict, built without a Python step per key.
            lines.append(f"    if {unchanged}: return data.copy()" if unchanged else "    return data.copy()")
        lines.append(f"    return {{{', '.join(entries)}}}")
        return _define(lines, namespace, f"{len(data)} keys")

    def _unchanged_when(self, data: dict[str, Any], extras: list[str]) -> str | None:
        """Source of the test that ``data`` loads as a copy of itself ("" if always), or None if it never does."""
        present = [(index, step) for index, step in enumerate(self.plan) if step.name in data]
        if extras or [step.name for _, step in present] != list(data):
            return None
        tests = [_unchanged(step, index, f"v{position}") for position, (index, step) in enumerate(present)]
        if any(test is None for test in tests):
            return None
        return " and ".join(f"({test})" for test in tests if test != "True")

    def _general(self) -> Converter:
        namespace = dict(self.namespace, absent=object(), required=self.required, declared=self.declared)
        lines = [
            "def load(data, tz):",
            "    if required and not required.issubset(data): raise Unsure",
            "    out = {}",
            "    get = data.get",
        ]
        for index, step in enumerate(self.plan):  # declaration order, as marshmallow
            lines += [
                f"    value = get(name_{index}, absent)",
                "    if value is not absent:",
                f"        out[name_{index}] = {_expression(step, index, 'value')}",
            ]
        # out now holds exactly the declared keys that were sent.
        if self.unknown == RAISE:
            lines.append("    if len(out) != len(data): raise Unsure")
        elif self.unknown == INCLUDE:
            # The very expression marshmallow iterates, hence the same key order.
            lines += ["    if len(out) != len(data):", "        for key in set(data) - declared:", "            out[key] = data[key]"]
        lines.append("    return out")
        return _define(lines, namespace, f"{len(self.plan)} fields")


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
        if moment.tzinfo is not None:
            return moment.astimezone(_UTC)
        # What moment.replace(tzinfo=tz).astimezone(UTC) gives (fold 0 both ways),
        # for a third of the cost: replace() parses keywords, the constructor does not.
        offset = tz.utcoffset(moment)
        if offset is None:
            raise Unsure
        utc = moment - offset
        return datetime(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, _UTC)
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
