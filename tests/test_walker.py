"""The walker gives exactly what marshmallow gives.

:func:`~flask_huggy.schemas.load_event` goes through
:mod:`flask_huggy.schemas.walker`. Whatever the input, the answer must be
``schema.load``'s, compared strictly (:func:`assert_same_answer`): the same types
all the way down (``True``, ``1`` and ``1.0`` are three answers), the same keys of
the same types in the same order, the same objects shared with the input, or a
``ValidationError`` with the same messages. Events come from every docs sample:
every odd value in every slot and every slot deleted (the sweep), then bent every
way at random (hypothesis).

The walker calls the fields' own code, so an edit in ``fields.py`` changes the
walker and marshmallow alike; ``tests/test_coercion.py`` pins what the fields
answer, and ``tests/mutations.py`` shows it catches plausible edits.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

import flask_huggy.samples
from flask_huggy.models import Contact
from flask_huggy.schemas import EVENT_SCHEMAS, load_event, walker
from flask_huggy.schemas.derived import schema_class
from flask_huggy.schemas.fields import Id, Text, local_timezone
from tests.conftest import ODD_VALUES, SAMPLE_NAMES, changed, load_payload

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
ContactSchema = schema_class(Contact)
ZONES: list[tzinfo] = [SAO_PAULO, timezone.utc, ZoneInfo("Asia/Kathmandu"), timezone(timedelta(hours=-3))]

#: A few hundred examples per test keep the file well under a minute on two cores.
EQUIVALENCE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _docs_events() -> list[tuple[str, str, dict[str, Any]]]:
    """(where, event name, event) for every event of tests/payloads and the shipped samples, each once."""
    found: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for sample in SAMPLE_NAMES:
        for name, items in load_payload(sample)["messages"].items():
            for index, event in enumerate(items):
                found.setdefault(json.dumps([name, event], sort_keys=True), (f"{sample}[{index}]", name, event))
    for path in sorted(Path(flask_huggy.samples.__file__).parent.glob("*.json")):
        event = json.loads(path.read_text(encoding="utf-8"))
        found.setdefault(json.dumps([path.stem, event], sort_keys=True), (f"samples/{path.name}", path.stem, event))
    return list(found.values())


DOCS_EVENTS = _docs_events()
DOCS_IDS = [where for where, _, _ in DOCS_EVENTS]
DECLARED_KEYS = sorted({key for schema in EVENT_SCHEMAS.values() for key in schema.fields})


# -- strict comparison ----------------------------------------------------------------


def assert_strictly_equal(got: Any, expected: Any, where: str = "") -> None:
    """Equal, and of the same types all the way down, dict keys and their order included."""
    assert type(got) is type(expected), (
        f"{where}: {got!r} ({type(got).__name__}) != {expected!r} ({type(expected).__name__})"
    )
    if isinstance(expected, dict):
        assert [(type(key), key) for key in got] == [(type(key), key) for key in expected], f"{where}: keys"
        for key in expected:
            assert_strictly_equal(got[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), f"{where}: length"
        for index, (one, other) in enumerate(zip(got, expected)):
            assert_strictly_equal(one, other, f"{where}[{index}]")
    elif isinstance(expected, datetime):
        assert (got, got.tzinfo, got.fold) == (expected, expected.tzinfo, expected.fold), where
    else:
        # repr tells -0.0 from 0.0 and nan from nan; == alone would not.
        assert repr(got) == repr(expected), where


def nodes(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, object) for ``value`` and everything inside it, depth first."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from nodes(item, (*path, key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from nodes(item, (*path, index))


def shared_with(result: Any, raw: Any) -> list[tuple[tuple[Any, ...], tuple[Any, ...] | None]]:
    """For each object of ``result``: the path of the very same object in ``raw``, if it is one."""
    in_raw: dict[int, tuple[Any, ...]] = {}
    for path, obj in nodes(raw):
        in_raw.setdefault(id(obj), path)
    return [(path, in_raw.get(id(obj))) for path, obj in nodes(result)]


def outcome(load: Any, raw: Any) -> tuple[str, Any]:
    """("ok", result), ("invalid", messages) or (exception type, message) for ``load(raw)``."""
    try:
        return "ok", load(raw)
    except ValidationError as exc:
        return "invalid", exc.messages
    except Exception as exc:  # noqa: BLE001 - e.g. str() of a 5000-digit int: must match too
        return type(exc).__name__, str(exc)


def assert_same_answer(schema: Schema, raw: Any, tz: tzinfo, load: Any = None) -> tuple[str, Any]:
    """``load(raw)`` (the walker, by default) answers exactly what ``schema.load(raw)`` answers in ``tz``."""
    before = copy.deepcopy(raw)
    with local_timezone(tz):
        expected = outcome(schema.load, raw)
    got = outcome(load or (lambda data: walker.load(schema, data, tz)), raw)
    assert got[0] == expected[0], (got, expected)
    assert_strictly_equal(got[1], expected[1], "result")
    if expected[0] == "ok":
        assert shared_with(got[1], raw) == shared_with(expected[1], raw)
    assert [raw] == [before], "the input was changed"  # in a list: nan equals itself there
    # The walk alone, without the fallback, may give up but never give another answer.
    with local_timezone(tz):
        walked = outcome(lambda data: walker.walk(schema, data), raw)
    if walked[0] == "ok":
        assert expected[0] == "ok"
        assert_strictly_equal(walked[1], expected[1], "walked")
        assert shared_with(walked[1], raw) == shared_with(expected[1], raw)
    return expected


def test_the_strict_comparison_tells_true_one_and_one_point_zero_apart() -> None:
    for one, other in [(True, 1), (1, 1.0), ({"a": 1}, {"a": True}), ({1: "x"}, {"1": "x"}), (0.0, -0.0)]:
        with pytest.raises(AssertionError):
            assert_strictly_equal(one, other)
    with pytest.raises(AssertionError):
        assert_strictly_equal({"a": 1, "b": 2}, {"b": 2, "a": 1})


def test_the_sharing_check_tells_a_copy_from_the_same_object() -> None:
    raw = {"m": {"k": 1}}
    assert shared_with({"m": raw["m"]}, raw) != shared_with({"m": dict(raw["m"])}, raw)


# -- the docs samples, swept ------------------------------------------------------------


def slots(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value inside ``value`` (not ``value`` itself), depth first."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield (*path, key)
        yield from slots(item, (*path, key))


@pytest.mark.parametrize(("where", "name", "event"), DOCS_EVENTS, ids=DOCS_IDS)
def test_every_docs_sample_loads_exactly_as_marshmallow_loads_it(where: str, name: str, event: dict[str, Any]) -> None:
    schema = EVENT_SCHEMAS[name]
    for tz in ZONES:
        assert assert_same_answer(schema, event, tz, lambda data, tz=tz: load_event(name, data, tz))[0] == "ok"
    with local_timezone(SAO_PAULO):
        walker.walk(schema, event)  # the docs samples are the common case: no doubt at all


@pytest.mark.parametrize(("where", "name", "event"), DOCS_EVENTS, ids=DOCS_IDS)
def test_every_odd_value_in_every_slot_loads_exactly_as_marshmallow_loads_it(
    where: str, name: str, event: dict[str, Any]
) -> None:
    schema = EVENT_SCHEMAS[name]
    for path in slots(event):
        for value in ODD_VALUES:
            assert_same_answer(schema, changed(event, path, value), SAO_PAULO)


@pytest.mark.parametrize(("where", "name", "event"), DOCS_EVENTS, ids=DOCS_IDS)
def test_every_slot_deleted_loads_exactly_as_marshmallow_loads_it(where: str, name: str, event: dict[str, Any]) -> None:
    schema = EVENT_SCHEMAS[name]
    for path in slots(event):
        assert_same_answer(schema, changed(event, path, delete=True), SAO_PAULO)


@pytest.mark.parametrize(("where", "name", "event"), DOCS_EVENTS, ids=DOCS_IDS)
def test_every_odd_value_as_the_whole_event_loads_exactly_as_marshmallow_loads_it(
    where: str, name: str, event: dict[str, Any]
) -> None:
    for value in ODD_VALUES:
        assert_same_answer(EVENT_SCHEMAS[name], copy.deepcopy(value), SAO_PAULO)


# -- generated variants ------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
odd_values = st.one_of(
    st.sampled_from(ODD_VALUES),
    json_scalars,
    st.lists(json_scalars, max_size=3),
    st.dictionaries(st.sampled_from(DECLARED_KEYS) | st.text(max_size=6), json_scalars, max_size=3),
)


def retyped(sent: Any) -> list[Any]:
    """The ways Huggy re-spells ``sent``: numbers as strings and back, objects as "nothing"."""
    if isinstance(sent, bool):
        return [int(sent), str(int(sent)), str(sent).lower()]
    if isinstance(sent, int):
        return [str(sent), float(sent), sent != 0]
    if isinstance(sent, str) and sent.isascii() and sent.lstrip("-").isdigit():
        return [int(sent), float(sent), ""]
    if isinstance(sent, (dict, list)):
        return [False, None, "", []]
    return [None, ""]


@st.composite
def bent_events(draw: st.DrawFn) -> tuple[str, dict[str, Any], tzinfo]:
    """A docs event bent one to five times: a value replaced or re-spelt, a key deleted or added."""
    _, name, sample = draw(st.sampled_from(DOCS_EVENTS))
    event = copy.deepcopy(sample)
    for _ in range(draw(st.integers(1, 5))):
        paths = list(slots(event))
        operation = draw(st.sampled_from(["replace", "retype", "retype", "delete", "add"]))
        if operation == "add" or not paths:
            dicts = [()] + [path for path in paths if isinstance(_at(event, path), dict)]
            target = _at(event, draw(st.sampled_from(dicts)))
            target[draw(st.sampled_from(DECLARED_KEYS) | st.text(max_size=8))] = copy.deepcopy(draw(odd_values))
            continue
        path = draw(st.sampled_from(paths))
        if operation == "replace":
            event = changed(event, path, draw(odd_values))
        elif operation == "retype":
            event = changed(event, path, draw(st.sampled_from(retyped(_at(event, path)))))
        else:
            event = changed(event, path, delete=True)
    return name, event, draw(st.sampled_from(ZONES))


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


@EQUIVALENCE
@given(case=bent_events())
def test_any_bent_sample_loads_exactly_as_marshmallow_loads_it(case: tuple[str, dict[str, Any], tzinfo]) -> None:
    name, event, tz = case
    assert_same_answer(EVENT_SCHEMAS[name], event, tz, lambda data: load_event(name, data, tz))


@EQUIVALENCE
@given(
    name=st.sampled_from(sorted(EVENT_SCHEMAS)),
    raw=st.dictionaries(st.sampled_from(DECLARED_KEYS) | st.text(max_size=8), odd_values, max_size=8),
    tz=st.sampled_from(ZONES),
)
def test_any_made_up_event_loads_exactly_as_marshmallow_loads_it(name: str, raw: Any, tz: tzinfo) -> None:
    assert_same_answer(EVENT_SCHEMAS[name], raw, tz)


@settings(max_examples=100, deadline=None)
@given(key_count=st.integers(0, 30), seed=st.integers(0, 2**32 - 1))
def test_unknown_keys_come_in_marshmallows_order(key_count: int, seed: int) -> None:
    event: dict[str, Any] = {f"k{(seed * (i + 7)) % 1000003}_{i}": i for i in range(key_count)}
    event.update({"id": "1", "body": "hi"})
    assert_same_answer(EVENT_SCHEMAS["receivedAllMessage"], event, SAO_PAULO)


# -- odd inputs only Python can build ------------------------------------------------------


class Key(str):
    """A str subclass, as a replay or a test (never JSON) may use for keys."""


@pytest.mark.parametrize(
    "event",
    [
        {Key("id"): "1", Key("extra"): 2},
        {1: "an int key", "id": "5"},
        {"id": "1", "x'] = __import__('os').getcwd() #": 1},
        (("id", "1"),),
    ],
    ids=["str-subclass-keys", "int-key", "key-like-code", "not-a-dict"],
)
def test_odd_python_inputs_load_exactly_as_marshmallow_loads_them(event: Any) -> None:
    assert_same_answer(EVENT_SCHEMAS["closedChat"], event, SAO_PAULO)


class FixedLMT(tzinfo):
    """A zone whose offset depends on the datetime asked, as pytz's zones before ``localize``."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=-3, minutes=-6) if dt is not None and dt.tzinfo is self else timedelta(hours=-3)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "LMT"


def test_an_unusual_zone_is_read_exactly_as_marshmallow_reads_it() -> None:
    assert_same_answer(EVENT_SCHEMAS["closedChat"], load_payload("closedChat")["messages"]["closedChat"][0], FixedLMT())


def test_the_timezone_passed_wins_over_one_set_around_the_call() -> None:
    with local_timezone(timezone.utc):
        data = load_event("receivedMessage", {"send_at": "2020-03-05 17:21:10"}, SAO_PAULO)
    assert data["send_at"] == datetime(2020, 3, 5, 20, 21, 10, tzinfo=timezone.utc)


# -- what is left to marshmallow -----------------------------------------------------------


class _WithPostLoad(Schema):
    id = Id()

    @post_load
    def mark(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {**data, "marked": True}


class _WithSchemaValidator(Schema):
    id = Id()

    @validates_schema
    def check(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("id") == 0:
            raise ValidationError("zero")


class _WithValidator(Schema):
    id = Id(validate=validate.Range(min=1))
    name = Text()


class _WithDataKey(Schema):
    name = Text(data_key="Name")


class _WithAttribute(Schema):
    name = Text(attribute="label")


class _WithPlainField(Schema):
    count = fields.Integer()


class _WithRequired(Schema):
    id = Id(required=True)


class _WithDefault(Schema):
    id = Id(load_default=7)


class _WithOverride(Schema):
    id = Id()

    def load(self, *args: Any, **kwargs: Any) -> Any:
        return {"overridden": True}


@pytest.mark.parametrize(
    ("schema", "raw"),
    [
        (_WithPostLoad(), {"id": "3"}),
        (_WithSchemaValidator(), {"id": "0"}),
        (_WithValidator(), {"id": "0", "name": "x"}),
        (_WithValidator(), {"id": "2", "name": "x"}),
        (_WithDataKey(), {"Name": 5}),
        (_WithAttribute(), {"name": 5}),
        (_WithPlainField(), {"count": "5"}),
        (_WithRequired(), {}),
        (_WithDefault(), {}),
        (_WithOverride(), {"id": "1"}),
        (ContactSchema(many=True), [{"id": "1"}]),
        (ContactSchema(partial=True), {"id": "1"}),
        (ContactSchema(unknown=RAISE), {"id": "1", "extra": 2}),
    ],
    ids=[
        "post_load",
        "validates_schema",
        "validator-refuses",
        "validator-accepts",
        "data_key",
        "attribute",
        "unknown-field-class",
        "required-absent",
        "load_default",
        "load-overridden",
        "many",
        "partial",
        "unknown-raise",
    ],
)
def test_what_the_walker_does_not_handle_is_left_to_marshmallow(schema: Schema, raw: Any) -> None:
    with pytest.raises(walker.Doubt):
        walker.walk(schema, raw)
    assert_same_answer(schema, raw, SAO_PAULO)


def test_a_schema_changed_after_its_first_load_is_loaded_as_it_now_is() -> None:
    schema = ContactSchema()
    event = {"id": "1", "brandNew": 2}
    assert walker.load(schema, event, SAO_PAULO) == {"id": 1, "brandNew": 2}
    schema.unknown = RAISE
    with pytest.raises(ValidationError) as caught:
        walker.load(schema, event, SAO_PAULO)
    assert caught.value.messages == {"brandNew": ["Unknown field."]}
    schema.load_fields = {**schema.load_fields, "brandNew": Id()}
    assert_same_answer(schema, event, SAO_PAULO)


def test_a_schema_swapped_into_event_schemas_is_the_one_that_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EVENT_SCHEMAS, "closedChat", _WithPostLoad())
    assert load_event("closedChat", {"id": "3"}, SAO_PAULO) == {"id": 3, "marked": True}


def test_plans_are_bounded_and_later_schemas_still_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(walker, "_plans", {})
    for _ in range(walker.MAX_PLANS + 5):
        schema = ContactSchema()
        assert walker.load(schema, {"id": "5"}, SAO_PAULO) == {"id": 5}
    assert len(walker._plans) <= walker.MAX_PLANS
