"""The compiled loaders give exactly what marshmallow gives.

:func:`~flask_huggy.schemas.load_event` goes through loaders compiled from the
schemas (:mod:`flask_huggy.schemas.compiled`). Whatever the event, the result is
marshmallow's: the same dict with the same key order, or a ``ValidationError``
with the same messages (or the same other exception). Events start from Huggy's
docs samples and are then bent every way: ids as numbers, strings, floats or
bools, objects replaced by ``false``/``null``/``""``/``[]``, unknown keys at any
level, fields deleted, wrong types, huge numbers, odd timestamps, any unicode.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields, post_load, validate

from flask_huggy.envelope import _envelope_schema, _load_envelope
from flask_huggy.schemas import EVENT_SCHEMAS, load_event
from flask_huggy.schemas import compiled
from flask_huggy.schemas.compiled import Unsure, compile_loader
from flask_huggy.schemas.fields import Id, Text, local_timezone
from tests.conftest import SAMPLE_NAMES, load_payload

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
ZONES: list[tzinfo] = [SAO_PAULO, timezone.utc, ZoneInfo("Asia/Kathmandu"), timezone(timedelta(hours=-3))]

#: A few hundred examples per test keep the file well under 40 s on two cores.
EQUIVALENCE = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SAMPLE_EVENTS = [
    (name, event)
    for sample in SAMPLE_NAMES
    for name, events in load_payload(sample)["messages"].items()
    for event in events
]
FAST_LOADERS = {name: compile_loader(schema).fast for name, schema in EVENT_SCHEMAS.items()}  # type: ignore[attr-defined]
DECLARED_KEYS = sorted({key for schema in EVENT_SCHEMAS.values() for key in schema.fields})


def marshmallow_outcome(name: str, raw: Any, tz: tzinfo) -> tuple[str, Any]:
    """What the schema itself makes of ``raw``: ("ok", data) or what it raised."""
    try:
        with local_timezone(tz):
            return "ok", EVENT_SCHEMAS[name].load(raw)
    except ValidationError as exc:
        return "invalid", exc.messages
    except Exception as exc:  # noqa: BLE001 - e.g. str() of a 5000-digit int: must match too
        return type(exc).__name__, str(exc)


def compiled_outcome(name: str, raw: Any, tz: tzinfo) -> tuple[str, Any]:
    try:
        return "ok", load_event(name, raw, tz)
    except ValidationError as exc:
        return "invalid", exc.messages
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__, str(exc)


def key_orders(value: Any) -> Iterator[Any]:
    """Every dict's key order, depth first, to compare orders as well as contents."""
    if isinstance(value, dict):
        yield list(value)
        for item in value.values():
            yield from key_orders(item)
    elif isinstance(value, list):
        for item in value:
            yield from key_orders(item)


def assert_same_as_marshmallow(name: str, raw: Any, tz: tzinfo) -> tuple[str, Any]:
    before = copy.deepcopy(raw)
    expected = marshmallow_outcome(name, raw, tz)
    got = compiled_outcome(name, raw, tz)
    assert got == expected
    assert list(key_orders(got[1])) == list(key_orders(expected[1]))
    assert [raw] == [before], "the raw event was changed"  # in a list: NaN equals itself there
    # The fast path alone, without the fallback: it may give up, never give another
    # answer. A fresh loader meets the shape for the first time, then knows it;
    # the general loader is what serves shapes beyond MAX_SHAPES.
    fresh = compile_loader(EVENT_SCHEMAS[name]).fast  # type: ignore[attr-defined]
    paths = [FAST_LOADERS[name], fresh, fresh]
    if type(raw) is dict:
        paths.append(fresh.__self__.general)
    for fast_path in paths:
        try:
            fast = fast_path(raw, tz)
        except Exception:  # noqa: BLE001
            continue
        assert expected == ("ok", fast)
        assert list(key_orders(fast)) == list(key_orders(expected[1]))
    return expected


# -- the docs samples --------------------------------------------------------------


@pytest.mark.parametrize("tz", ZONES, ids=str)
@pytest.mark.parametrize(("name", "event"), SAMPLE_EVENTS, ids=[name for name, _ in SAMPLE_EVENTS])
def test_every_docs_sample_loads_exactly_as_marshmallow_loads_it(name: str, event: dict[str, Any], tz: tzinfo) -> None:
    assert assert_same_as_marshmallow(name, event, tz)[0] == "ok"


@pytest.mark.parametrize(("name", "event"), SAMPLE_EVENTS, ids=[name for name, _ in SAMPLE_EVENTS])
def test_every_docs_sample_takes_the_fast_path(name: str, event: dict[str, Any]) -> None:
    assert FAST_LOADERS[name](event, SAO_PAULO) == load_event(name, event, SAO_PAULO)


# -- generated variants --------------------------------------------------------------

ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, 2, -1, 1.0, 1.5, -0.0, 1e11, 1.5e12, 1e300, -1e300,
    float("inf"), float("-inf"), float("nan"), 2**63, 10**30, 10**5000,
    "", " ", "0", "1", "true", " TRUE ", "False", "yes", "-12", "+12", " 12", "12 ", "012", "1e3", "1.0",
    "\u0663", "\u00b2", "1" * 30, "1" * 31, "-" + "9" * 30, "12a",
    "2020-03-05 17:21:10", "2020-03-05T17:21:10+02:00", "2020-03-05", "2020-03-05 17:21:10Z",
    " 2019-07-11 18:04:39 ", "2020-13-45 00:00:00", "0001-01-01 00:00:00", "9999-12-31 23:59:59",
    "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
    "Ol\u00e3 \u4e2d \U0001f600 \x00", [], {}, [1], [False], [None], [{}], [[]], {"id": "1"}, {"": False},
]
json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
)
odd_values = st.one_of(
    st.sampled_from(ODD_VALUES),
    json_scalars,
    st.lists(json_scalars, max_size=3),
    st.dictionaries(st.sampled_from(DECLARED_KEYS) | st.text(max_size=6), json_scalars, max_size=3),
)


def slots(value: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key or index) in ``value``, depth first."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield value, key
            yield from slots(item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield value, index
            yield from slots(item)


def dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
    for container, key in slots(value):
        if isinstance(container[key], dict):
            yield container[key]


def retyped(sent: Any) -> list[Any]:
    """The ways Huggy re-spells ``sent``: numbers as strings and back, objects as "nothing"."""
    if isinstance(sent, bool):
        return [int(sent), str(int(sent)), str(sent).lower()]
    if isinstance(sent, int) and sent.bit_length() > 1000:
        return [None, ""]  # a number no JSON decoder hands over; str() would refuse it anyway
    if isinstance(sent, int):
        return [str(sent), float(sent), sent != 0]
    if isinstance(sent, str) and sent.isascii() and sent.lstrip("-").isdigit():  # "²" is a digit, not an int
        return [int(sent), float(sent), ""]
    if isinstance(sent, (dict, list)):
        return [False, None, "", []]
    return [None, ""]


@st.composite
def bent_events(draw: st.DrawFn) -> tuple[str, dict[str, Any], tzinfo]:
    """A docs sample bent one to five times: a value replaced or re-spelt, a key deleted or added."""
    name, sample = draw(st.sampled_from(SAMPLE_EVENTS))
    event = copy.deepcopy(sample)
    for _ in range(draw(st.integers(1, 5))):
        where = list(slots(event))
        operation = draw(st.sampled_from(["replace", "retype", "retype", "delete", "add"]))
        if operation == "add" or not where:
            target = draw(st.sampled_from(list(dicts(event))))
            key = draw(st.sampled_from(DECLARED_KEYS) | st.text(max_size=8))
            target[key] = copy.deepcopy(draw(odd_values))
            continue
        container, key = draw(st.sampled_from(where))
        if operation == "replace":
            container[key] = copy.deepcopy(draw(odd_values))
        elif operation == "retype":
            container[key] = draw(st.sampled_from(retyped(container[key])))
        elif isinstance(container, dict):
            del container[key]
        else:
            container.pop(key)
    return name, event, draw(st.sampled_from(ZONES))


@EQUIVALENCE
@given(case=bent_events())
def test_any_bent_sample_loads_exactly_as_marshmallow_loads_it(case: tuple[str, dict[str, Any], tzinfo]) -> None:
    assert_same_as_marshmallow(*case)


@EQUIVALENCE
@given(
    name=st.sampled_from(sorted(EVENT_SCHEMAS)),
    raw=st.one_of(
        st.sampled_from(ODD_VALUES),
        st.dictionaries(st.sampled_from(DECLARED_KEYS) | st.text(max_size=8), odd_values, max_size=8),
    ),
    tz=st.sampled_from(ZONES),
)
def test_any_made_up_event_loads_exactly_as_marshmallow_loads_it(name: str, raw: Any, tz: tzinfo) -> None:
    assert_same_as_marshmallow(name, raw, tz)


@settings(max_examples=200, deadline=None)
@given(key_count=st.integers(0, 30), seed=st.integers(0, 2**32 - 1))
def test_unknown_keys_come_in_marshmallows_order(key_count: int, seed: int) -> None:
    event = {f"k{(seed * (i + 7)) % 1000003}_{i}": i for i in range(key_count)}
    event.update({"id": "1", "body": "hi"})
    assert_same_as_marshmallow("receivedAllMessage", event, SAO_PAULO)


envelope_values = st.one_of(
    st.sampled_from(ODD_VALUES),
    st.sampled_from([1562879079, 1562879079.5, "1562879079", 1562879079000, 10**12, -1]),
    json_scalars,
)
event_lists = st.lists(st.dictionaries(st.text(max_size=4), json_scalars, max_size=2) | odd_values, max_size=3)
message_maps = st.one_of(
    st.dictionaries(st.sampled_from(sorted(EVENT_SCHEMAS)) | st.text(max_size=6), event_lists | odd_values, max_size=3),
    odd_values,
)


@EQUIVALENCE
@given(
    envelope=st.fixed_dictionaries(
        {},
        optional={
            "time": envelope_values,
            "messages": message_maps,
            "token": envelope_values,
            "validToken": envelope_values,
            "extra": odd_values,
        },
    ),
)
def test_any_envelope_loads_exactly_as_marshmallow_loads_it(envelope: dict[str, Any]) -> None:
    try:
        expected: tuple[str, Any] = ("ok", _envelope_schema.load(envelope))
    except ValidationError as exc:
        expected = ("invalid", exc.messages)
    try:
        got: tuple[str, Any] = ("ok", _load_envelope(envelope, SAO_PAULO))
    except ValidationError as exc:
        got = ("invalid", exc.messages)
    assert got == expected
    assert list(key_orders(got[1])) == list(key_orders(expected[1]))


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_docs_envelope_takes_the_fast_path(name: str) -> None:
    envelope = load_payload(name)
    assert _load_envelope.fast(envelope, SAO_PAULO) == _envelope_schema.load(envelope)  # type: ignore[attr-defined]


# -- what is left to marshmallow ---------------------------------------------------------


def test_the_timezone_passed_wins_over_one_set_around_the_call() -> None:
    event = {"send_at": "2020-03-05 17:21:10"}
    with local_timezone(timezone.utc):
        data = load_event("receivedMessage", event, SAO_PAULO)
    assert data["send_at"].hour == 20


class _WithPostLoad(Schema):
    id = Id()

    @post_load
    def mark(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {**data, "marked": True}


class _WithValidator(Schema):
    id = Id(validate=validate.Range(min=1))
    name = Text()


class _WithDataKey(Schema):
    name = Text(data_key="Name")


class _WithPlainField(Schema):
    count = fields.Integer()


@pytest.mark.parametrize(
    ("schema", "raw"),
    [
        (_WithPostLoad(), {"id": "3"}),
        (_WithValidator(), {"id": "0", "name": "x"}),
        (_WithValidator(), {"id": "2", "name": "x"}),
        (_WithDataKey(), {"Name": 5}),
        (_WithPlainField(), {"count": "5"}),
    ],
    ids=["post_load", "validator-refuses", "validator-accepts", "data_key", "unknown-field-class"],
)
def test_a_schema_option_the_compiler_does_not_know_is_left_to_marshmallow(schema: Schema, raw: dict[str, Any]) -> None:
    load = compile_loader(schema)
    with pytest.raises(Unsure):
        load.fast(raw, SAO_PAULO)  # type: ignore[attr-defined]
    try:
        expected: Any = schema.load(raw)
    except ValidationError as exc:
        with pytest.raises(ValidationError) as caught:
            load(raw, SAO_PAULO)
        assert caught.value.messages == exc.messages
    else:
        assert load(raw, SAO_PAULO) == expected


def test_a_schema_swapped_into_event_schemas_is_the_one_that_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EVENT_SCHEMAS, "closedChat", _WithPostLoad())
    assert load_event("closedChat", {"id": "3"}, SAO_PAULO) == {"id": 3, "marked": True}


# -- loaders specialised by shape -------------------------------------------------------


def shape_loaders(name: str) -> Any:
    """A fresh compiled loader's state (its learned shapes, its general loader)."""
    return compile_loader(EVENT_SCHEMAS[name]).fast.__self__  # type: ignore[attr-defined]


def test_a_shape_is_learned_once_and_serves_objects_with_other_values() -> None:
    loaders = shape_loaders("receivedAllMessage")
    first = {"id": "1", "body": "hi", "send_at": "2020-03-05 17:21:10"}
    second = {"id": 2, "body": None, "send_at": False}
    assert loaders.load(first, SAO_PAULO) == EVENT_SCHEMAS["receivedAllMessage"].load(first)
    assert list(loaders.shapes) == [("id", "body", "send_at")]
    with local_timezone(SAO_PAULO):
        assert loaders.load(second, SAO_PAULO) == EVENT_SCHEMAS["receivedAllMessage"].load(second)
    assert len(loaders.shapes) == 1


def test_the_same_keys_in_another_order_are_another_shape_with_the_same_result() -> None:
    loaders = shape_loaders("receivedAllMessage")
    forward = {"id": "1", "body": "hi", "zz": 1, "aa": 2}
    backward = dict(reversed(forward.items()))
    for event in (forward, backward):
        assert_same_as_marshmallow("receivedAllMessage", event, SAO_PAULO)
        assert list(loaders.load(event, SAO_PAULO)) == list(EVENT_SCHEMAS["receivedAllMessage"].load(event))
    assert len(loaders.shapes) == 2


def test_learned_shapes_are_bounded_and_later_shapes_still_load() -> None:
    loaders = shape_loaders("closedChat")
    for index in range(compiled.MAX_SHAPES + 20):
        event = {"id": str(index), f"extra{index}": index}
        assert loaders.load(event, SAO_PAULO) == EVENT_SCHEMAS["closedChat"].load(event)
    assert len(loaders.shapes) == compiled.MAX_SHAPES


@pytest.mark.parametrize(
    "event",
    [
        {f"k{index}": index for index in range(compiled.MAX_SHAPE_KEYS + 1)},
        {"k" * (compiled.MAX_SHAPE_KEY_CHARS + 1): 1, "id": "5"},
        {1: "an int key, as only Python (a replay, a test) can build", "id": "5"},
    ],
    ids=["too-many-keys", "keys-too-long", "non-string-key"],
)
def test_odd_shapes_are_not_learned_and_load_all_the_same(event: dict[Any, Any]) -> None:
    loaders = shape_loaders("closedChat")
    assert loaders.load(event, SAO_PAULO) == EVENT_SCHEMAS["closedChat"].load(event)
    assert loaders.shapes == {}


def test_keys_that_look_like_code_stay_data() -> None:
    # Shape loaders are written as Python source; the keys must never be part of it.
    event = {
        "id": "1",
        "x'] = __import__('os').getcwd() #": 1,
        '"}; raise SystemExit; {"': 2,
        "\n    return {}\n": 3,
        "v0": 4,
    }
    expected = EVENT_SCHEMAS["closedChat"].load(event)
    loaders = shape_loaders("closedChat")
    assert loaders.load(event, SAO_PAULO) == expected
    assert loaders.load(dict(event), SAO_PAULO) == expected
    assert len(loaders.shapes) == 1


@pytest.mark.parametrize(
    "spelled",
    ["7", "0", "007", "1" * 30, "1" * 31, "-5", " 5", "5 ", "+5", "5.0", "²", "٣", "1_000", "", "0x1f"],
    ids=repr,
)
def test_ids_written_as_strings_load_exactly_as_marshmallow_loads_them(spelled: str) -> None:
    # Digit strings take a shortcut written into the loaders: its edges must be marshmallow's.
    assert_same_as_marshmallow("closedChat", {"id": spelled}, SAO_PAULO)
    assert_same_as_marshmallow("receivedAllMessage", {"id": "1", "sender": {"id": spelled, "name": "x"}}, SAO_PAULO)
