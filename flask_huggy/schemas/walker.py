"""Loading by walking a schema's fields: ``schema.load`` for the well-formed common case.

marshmallow spends most of a ``load`` around the fields rather than in them (an
error store, a closure per field, hooks looked up, and all of it again for each
nested object): about 200 us for a ``receivedAllMessage``, more than Flask's own
request handling. :func:`load` walks ``schema.load_fields`` itself and calls each
field's public ``deserialize`` with what marshmallow would pass it (the value,
or ``missing`` for a key not sent), keeping what does not come back ``missing``.
A field that nests a schema (:class:`~.fields.LooseNested`, and through it
:class:`~.fields.Either` and ``List``) is used through a copy made for the plan,
whose nested load is the walk: every rule (what "nothing here" is, which shape
goes where, ``None``, ``required``, ``load_default``, validators) is the field's
own code, run by both paths.

marshmallow decides on any doubt. Whatever the walk does not handle (a field class
it does not know, ``data_key``, ``attribute``, a schema hook or overridden method,
``many``, ``partial``, unknown keys under ``RAISE``, anything but a plain ``dict``
where an object is expected, and any error a field raises) makes it give up, and
the real ``schema.load`` runs from the top, so that every result and every
``ValidationError`` is marshmallow's own.

Key order is marshmallow's too: declared fields in ``load_fields`` order, then the
unknown keys in the order of the very expression marshmallow iterates,
``set(data) - declared``.

Each schema instance's plan (its fields and their copies) is made on first use and
remade when ``load_fields`` is replaced; the schema's ``many``, ``partial``,
``unknown`` and ``dict_class`` are read on every call. Fields are read once, as
marshmallow binds them once, when the schema is made.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import tzinfo
from typing import Any

from marshmallow import EXCLUDE, INCLUDE, Schema, ValidationError, fields, missing

from .base import HuggySchema
from .fields import AnyField, Either, LooseNested, local_timezone

#: What the walk calls for one field's value: ``(value, attr, data) -> loaded``.
Convert = Callable[[Any, Any, Any], Any]

#: Module of the package's own code: fields whose ``_deserialize`` comes from here are ours.
_OURS = __name__.split(".", 1)[0] + "."
_SCHEMA_CLASSES = frozenset(Schema.__mro__)
#: Beyond this many schema instances, plans are forgotten and made again.
MAX_PLANS = 1024


class Doubt(Exception):
    """The walk met something it does not handle: ``schema.load`` decides."""


def load(schema: Schema, raw: Any, tz: tzinfo) -> Any:
    """What ``schema.load(raw)`` returns, offset-less timestamps read in ``tz``.

    The walk serves what it knows; anything else, errors included, is
    ``schema.load``'s to answer.
    """
    with local_timezone(tz):
        try:
            return walk(schema, raw)
        except Exception:  # noqa: BLE001, S110 - any doubt, a field's error included: marshmallow decides, below
            pass
        return schema.load(raw)


#: One declared field of a plan: its name, what loads a value that is not ``None``
#: (the field's ``_deserialize``), and what loads ``None`` (its ``deserialize``).
#: (A plain tuple: unpacking a NamedTuple in the loop costs a third of the walk.)
_Step = tuple[str, Convert, Convert]


class _Plan:
    """What walking one schema instance takes, made once."""

    __slots__ = ("declared", "load_fields", "must_be_sent", "schema", "steps")

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        #: The ``load_fields`` the plan was made from; another one means a new plan.
        self.load_fields: Mapping[str, Any] = schema.load_fields
        #: None when the schema is not one the walk handles.
        self.steps: tuple[_Step, ...] | None = None
        if _declares_no_behaviour(type(schema)):
            try:
                self.steps = tuple(_step(name, field) for name, field in self.load_fields.items())
            except Doubt:
                pass
        self.declared = frozenset(self.load_fields)
        #: Fields whose own answer to a key not sent is not "leave it out" (``required``,
        #: ``load_default``): asked once, here, of the field itself.
        self.must_be_sent = frozenset(name for name, field in self.load_fields.items() if not _drops_if_absent(field))


_plans: dict[int, _Plan] = {}


def walk(schema: Schema, data: Any) -> dict[str, Any]:
    """``schema.load(data)``, by walking the fields; raises :class:`Doubt` where unsure.

    A field's own error propagates as raised: :func:`load` does not trust it either.
    Offset-less timestamps are read in the zone set by
    :func:`~flask_huggy.schemas.fields.local_timezone`.
    """
    plan = _plans.get(id(schema))
    if plan is None or plan.schema is not schema or plan.load_fields is not schema.load_fields:
        plan = _make_plan(schema)
    steps = plan.steps
    if steps is None or type(data) is not dict or schema.many or schema.partial or schema.dict_class is not dict:
        raise Doubt
    if plan.must_be_sent and not plan.must_be_sent.issubset(data):
        raise Doubt
    loaded: dict[str, Any] = {}
    left = len(data)  # keys not met yet: once none is left, the other fields are absent, and left out
    for name, load_value, deserialize in steps if left else ():
        if name in data:
            value = data[name]
            loaded[name] = deserialize(value, name, data) if value is None else load_value(value, name, data)
            left -= 1
            if not left:
                break
    if left:  # keys that are not fields
        unknown = schema.unknown
        if unknown == INCLUDE:
            for key in set(data) - plan.declared:
                loaded[key] = data[key]
        elif unknown != EXCLUDE:
            raise Doubt
    return loaded


def _make_plan(schema: Schema) -> _Plan:
    plan = _Plan(schema)
    if len(_plans) >= MAX_PLANS:
        _plans.clear()
    _plans[id(schema)] = plan
    return plan


def _declares_no_behaviour(cls: type) -> bool:
    """Whether loading with ``cls`` is marshmallow's ``Schema`` with nothing added.

    Hooks (``post_load``, ``validates``...) and overridden methods are functions
    or descriptors in a class body; fields, nested classes (``Meta``, a ``model``)
    and plain values are not. :class:`HuggySchema` is ours and adds only
    :meth:`~HuggySchema.build_object`, which loading never calls.
    """
    if type(cls) is not type(Schema):
        return False
    for klass in cls.__mro__:
        if klass in _SCHEMA_CLASSES or klass is HuggySchema:
            continue
        for name, value in vars(klass).items():
            if name in ("__dict__", "__weakref__") or isinstance(value, (fields.Field, type)):
                continue
            if callable(value) or hasattr(type(value), "__get__"):
                return False
    return True


def _step(name: str, field: AnyField) -> _Step:
    if field.data_key is not None or field.attribute is not None or "." in name:
        raise Doubt  # other keys in, other keys out: marshmallow's set_value nests on "."
    walking = _walked(field)
    return (name, walking._deserialize, walking.deserialize)


def _drops_if_absent(field: AnyField) -> bool:
    """Whether ``field`` loads a key not sent as ``missing``, which marshmallow leaves out of the result."""
    try:
        return field.deserialize(missing) is missing
    except ValidationError:  # required
        return False


def _walked(field: AnyField) -> AnyField:
    """``field`` as the walk uses it: itself, or a copy whose nested objects load by walking.

    What ``deserialize`` adds around ``_deserialize`` for a value that is not
    ``None`` (validators, marshmallow 4's processors) the walk does not run:
    such a field is a doubt. Exact classes: a subclass may load otherwise.
    """
    kind = type(field)
    _check(field)
    if kind is LooseNested and isinstance(field, LooseNested):  # isinstance is for mypy
        return _walking_nested(field)
    if kind is Either and isinstance(field, Either):
        either = copy.copy(field)
        either.scalar = _walked(field.scalar)
        either.nested = _walking_nested(field.nested)
        return either
    if kind is fields.List and isinstance(field, fields.List):
        items = copy.copy(field)
        items.inner = _walked(field.inner)
        return items
    if kind is fields.Raw or kind._deserialize.__module__.startswith(_OURS):  # the field's rule is our own code
        return field
    raise Doubt


def _check(field: AnyField) -> None:
    if (
        type(field).deserialize is not fields.Field.deserialize
        or field.validators
        or getattr(field, "pre_load", None)  # marshmallow 4's field processors
        or getattr(field, "post_load", None)
    ):
        raise Doubt


def _walking_nested(field: LooseNested) -> LooseNested:
    """A copy of ``field`` whose nested load is the walk: its other rules stay its own."""
    _check(field)
    if type(field) is not LooseNested or field.many or field.unknown is not None:
        raise Doubt
    schema = field.schema
    walking = copy.copy(field)
    walking.load_object = lambda value, *args, **kwargs: walk(schema, value)  # type: ignore[method-assign]
    return walking


__all__ = ["MAX_PLANS", "Convert", "Doubt", "load", "walk"]
