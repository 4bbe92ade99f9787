"""Properties of the webhook over generated deliveries.

Each generated event starts from an event of Huggy's docs (``tests/payloads/``)
and varies the way Huggy does: ids as numbers or strings, objects replaced by
``false``/``null``/``""``/``[]``, fields added or left out, any unicode in text.
Whatever the variant, the webhook answers 200, fires every event once and in
order, hands over ``raw`` untouched and ``data`` coerced as documented. Garbage
(any JSON, any bytes) is refused with a JSON 4xx, never a 5xx.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import responses
from flask.testing import FlaskClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, fields
from werkzeug.test import TestResponse

import flask_huggy
from flask_huggy.config import DEFAULT_CONFIRM_URL
from flask_huggy.schemas import EVENT_SCHEMAS
from flask_huggy.schemas.fields import Either, Flag, HuggyDateTime, Id, LooseMapping, LooseNested, Text
from flask_huggy.testing import SignalRecorder
from tests.conftest import SAMPLE_NAMES, TOKEN, create_app, load_payload

WEBHOOK = "/huggy/webhook"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
UTC = timezone.utc

#: Modest example counts keep the file well under a minute on two cores.
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Every event of every docs sample, as (Huggy's event name, the event object).
SAMPLE_EVENTS = [
    (name, event)
    for sample in SAMPLE_NAMES
    for name, events in load_payload(sample)["messages"].items()
    for event in events
]


# -- the webhook under test ----------------------------------------------------


@dataclass
class Webhook:
    """One app with the blueprint, a client and a recorder that forgets between examples."""

    client: FlaskClient
    recorder: SignalRecorder

    def post(self, **kwargs: Any) -> TestResponse:
        self.recorder.clear()
        return self.client.post(WEBHOOK, **kwargs)


@pytest.fixture(scope="module")
def webhooks() -> Iterator[dict[str, Webhook]]:
    """A lenient and a strict endpoint; Huggy's confirmation URL answers 200 (no network)."""
    apps = {"lenient": create_app(), "strict": create_app(HUGGY_STRICT=True)}
    recorders = {mode: SignalRecorder(sender=app) for mode, app in apps.items()}
    for recorder in recorders.values():
        recorder.connect()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as huggy_api:
        huggy_api.post(DEFAULT_CONFIRM_URL, json={"status": "ok"})
        yield {mode: Webhook(app.test_client(), recorders[mode]) for mode, app in apps.items()}
    for recorder in recorders.values():
        recorder.disconnect()


# -- strategies: values Huggy may send -------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
ids = st.integers(min_value=-(10**15), max_value=10**15)
ABSENT: list[Any] = [False, None, "", []]
flags = st.sampled_from([True, False, 1, 0, "1", "0", None])
moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1))
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
epochs = st.integers(min_value=0, max_value=4_102_444_800)
timestamps = st.one_of(
    moments.map(lambda m: m.isoformat(sep=" ", timespec="seconds")),
    st.builds(lambda m, tz: m.replace(tzinfo=tz).isoformat(), moments, offsets),
    epochs,
    epochs.map(lambda s: s * 1000),
    st.sampled_from([None, False, ""]),
)
dotted_keys = st.from_regex(r"[A-Za-z_]{1,8}(\.[A-Za-z_]{1,8}){0,3}", fullmatch=True) | st.text(max_size=10)
mappings = st.one_of(st.just({}), st.just([]), st.dictionaries(dotted_keys, json_values, max_size=5))


def unknown_keys(schema: Schema, obj: dict[str, Any]) -> st.SearchStrategy[str]:
    """Keys Huggy might add: neither declared by ``schema`` nor already in ``obj``."""
    return st.text(max_size=12).filter(lambda key: key not in schema.fields and key not in obj)


def value_for(field: fields.Field[Any], sent: Any) -> st.SearchStrategy[Any]:
    """What Huggy may send for ``field`` in place of the sample's ``sent``."""
    if isinstance(field, Id):
        return st.one_of(st.just(sent), ids, ids.map(str), st.just(""), st.none())
    if isinstance(field, Flag):
        return flags
    if isinstance(field, HuggyDateTime):
        return st.just(sent) | timestamps
    if isinstance(field, LooseMapping):
        return (st.just(sent) if isinstance(sent, (dict, list)) else st.nothing()) | mappings
    if isinstance(field, LooseNested):
        nested = variant_of(field.schema, sent) if isinstance(sent, dict) else st.nothing()
        return nested | st.sampled_from(ABSENT)
    if isinstance(field, Either):
        nested = variant_of(field.nested.schema, sent) if isinstance(sent, dict) else st.just(sent)
        return nested | st.sampled_from(ABSENT)
    if isinstance(field, fields.List) and isinstance(field.inner, LooseNested) and sent:
        return st.lists(st.one_of([variant_of(field.inner.schema, item) for item in sent]), max_size=3)
    if isinstance(field, Text):
        return st.one_of(st.just(sent), st.text(), st.none())
    return st.just(sent)


def addable(field: fields.Field[Any]) -> bool:
    """Whether a value can be made up for ``field``, to add a declared field a sample lacks."""
    return isinstance(field, (Id, Flag, HuggyDateTime, LooseMapping, Text))


@st.composite
def variant_of(draw: st.DrawFn, schema: Schema, base: dict[str, Any]) -> dict[str, Any]:
    """A variant of ``base``: some fields dropped, changed, added; unknown keys added."""
    dropped = draw(st.sets(st.sampled_from(sorted(base)), max_size=2)) if base else set()
    variant: dict[str, Any] = {}
    for key, sent in base.items():
        if key in dropped:
            continue
        field = schema.fields.get(key)
        variant[key] = draw(value_for(field, sent)) if field is not None else sent
    missing = sorted(key for key, field in schema.fields.items() if key not in base and addable(field))
    for key in draw(st.sets(st.sampled_from(missing), max_size=2)) if missing else ():
        variant[key] = draw(value_for(schema.fields[key], None))
    extra = draw(st.dictionaries(unknown_keys(schema, base), json_values, max_size=2))
    variant.update(extra)
    return variant


known_events = st.sampled_from(SAMPLE_EVENTS).flatmap(
    lambda pair: variant_of(EVENT_SCHEMAS[pair[0]], pair[1]).map(lambda event: (pair[0], event))
)
unknown_events = st.tuples(
    st.text(min_size=1, max_size=20).filter(lambda name: name not in EVENT_SCHEMAS),
    st.dictionaries(st.text(max_size=8), json_values, max_size=4),
)


@st.composite
def deliveries(draw: st.DrawFn) -> dict[str, Any]:
    """A delivery of 1 to 4 events of several types, known ones mostly."""
    messages: dict[str, list[dict[str, Any]]] = {}
    for name, event in draw(st.lists(known_events | unknown_events, min_size=1, max_size=4)):
        messages.setdefault(name, []).append(event)
    return {"time": draw(st.integers(1_400_000_000, 1_800_000_000)), "messages": messages, "token": TOKEN}


# -- what a receiver must see ----------------------------------------------------


def means_nothing(sent: Any) -> bool:
    # Spelled out rather than `in ABSENT`: 0 == False in Python, and 0 is an id.
    return sent is None or sent is False or sent == "" or (isinstance(sent, list) and not sent)


def assert_coerced(data: Any, raw: dict[str, Any], schema: Schema, where: str) -> None:
    """``data`` is ``raw`` read as documented: same keys, declared fields coerced, the rest untouched."""
    assert isinstance(data, dict), where
    assert set(data) == set(raw), where
    for key, sent in raw.items():
        got, field, at = data[key], schema.fields.get(key), f"{where}.{key}"
        if field is None:
            assert got == sent and type(got) is type(sent), at
        elif isinstance(field, Id):
            assert got == (None if sent in ("", None) else int(sent)), at
            assert got is None or type(got) is int, at
        elif isinstance(field, Flag):
            assert got is (None if sent is None else sent in (True, 1, "1")), at
        elif isinstance(field, HuggyDateTime):
            assert got is None or (isinstance(got, datetime) and got.utcoffset() == timedelta(0)), at
            assert (got is None) == means_nothing(sent), at
        elif isinstance(field, LooseMapping):
            assert type(got) is dict and got == (sent if isinstance(sent, dict) else {}), at
        elif isinstance(field, LooseNested):
            if means_nothing(sent):
                assert got is None, at
            else:
                assert_coerced(got, sent, field.schema, at)
        elif isinstance(field, Either):
            if means_nothing(sent):
                assert got is None, at
            elif isinstance(sent, dict):
                assert_coerced(got, sent, field.nested.schema, at)
            else:
                assert got == sent, at
        elif isinstance(field, fields.List) and isinstance(field.inner, LooseNested):
            assert isinstance(got, list) and len(got) == len(sent), at
            for index, (item, item_sent) in enumerate(zip(got, sent)):
                assert_coerced(item, item_sent, field.inner.schema, f"{at}[{index}]")
        elif isinstance(field, Text):
            assert got == sent and (got is None or type(got) is str), at
        else:
            assert got == sent, at


def expected_signals(delivery: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for name, events in delivery["messages"].items():
        for _ in events:
            names += [name, "huggy.event_received"] if name in EVENT_SCHEMAS else ["huggy.event_received"]
    return [*names, "huggy.delivery_received"]


def flat_events(delivery: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, event) for name, events in delivery["messages"].items() for event in events]


# -- generated variants of the docs' samples ------------------------------------


@PROPERTY
@given(delivery=deliveries())
def test_every_variant_of_the_docs_samples_is_accepted_and_fires_each_event_once_in_order(
    webhooks: dict[str, Webhook], delivery: dict[str, Any]
) -> None:
    webhook = webhooks["lenient"]
    sent = copy.deepcopy(delivery)
    response = webhook.post(json=delivery)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "status": "accepted",
        "events": len(flat_events(sent)),
        "invalid": 0,
        "duplicates": 0,
    }
    assert webhook.recorder.names() == expected_signals(sent)
    received = webhook.recorder.events("huggy.event_received")
    assert [(event.name, event.raw) for event in received] == flat_events(sent)
    for name in {name for name, _ in flat_events(sent) if name in EVENT_SCHEMAS}:
        assert webhook.recorder.events(name) == [event for event in received if event.name == name]


@PROPERTY
@given(delivery=deliveries())
def test_receivers_get_raw_untouched_and_data_coerced_as_documented(
    webhooks: dict[str, Webhook], delivery: dict[str, Any]
) -> None:
    webhook = webhooks["lenient"]
    sent = copy.deepcopy(delivery)
    webhook.post(json=delivery)
    received = webhook.recorder.events("huggy.event_received")
    for index, (event, (name, raw)) in enumerate(zip(received, flat_events(sent), strict=True)):
        if name in EVENT_SCHEMAS:
            assert event.is_valid, event.errors
            assert_coerced(event.data, raw, EVENT_SCHEMAS[name], f"{name}#{index}")
        else:
            assert event.data is event.raw
        assert event.raw == raw
    (delivery,) = webhook.recorder.deliveries()
    assert delivery.raw == sent
    assert delivery.events == tuple(received)


@PROPERTY
@given(delivery=deliveries())
def test_variants_pass_strict_mode_too(webhooks: dict[str, Webhook], delivery: dict[str, Any]) -> None:
    response = webhooks["strict"].post(json=delivery)
    assert response.status_code == 200, response.get_json()


@PROPERTY
@given(delivery=deliveries())
def test_parse_delivery_keeps_each_event_as_the_very_object_sent_and_never_changes_it(
    delivery: dict[str, Any],
) -> None:
    before = copy.deepcopy(delivery)
    parsed = flask_huggy.envelope.parse_delivery(delivery, SAO_PAULO)
    for event in parsed.events:
        _ = event.data
    assert delivery == before
    assert [(event.name, event.raw) for event in parsed.events] == flat_events(before)
    for event, (_, raw) in zip(parsed.events, flat_events(delivery), strict=True):
        assert event.raw is raw


# -- single coercions over their whole domain -----------------------------------

ID_PATHS = [
    ("receivedMessage", ("id",)),
    ("receivedMessage", ("chat", "customer", "id")),
    ("startedAutomationFlow", ("companyID",)),
    ("agentChangedStatus", ("statusID",)),
    ("startedWidgetAttendance", ("widget",)),
]


def event_with(name: str, path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """The first ``name`` event of the docs, with ``path`` set to ``value``."""
    event: dict[str, Any] = copy.deepcopy(next(event for n, event in SAMPLE_EVENTS if n == name))
    target = event
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    return event


def parse_one(name: str, event: dict[str, Any], tz: ZoneInfo = SAO_PAULO) -> flask_huggy.Event:
    (parsed,) = flask_huggy.envelope.parse_delivery({"messages": {name: [event]}}, tz).events
    return parsed


def get_at(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        obj = obj[key]
    return obj


@PROPERTY
# Huggy's ids are PHP integers: 64 bits, whichever way they are written.
@given(where=st.sampled_from(ID_PATHS), number=st.integers(-(2**63), 2**63 - 1), as_string=st.booleans())
def test_any_integer_id_arrives_as_that_int_whether_sent_as_a_number_or_a_string(
    where: tuple[str, tuple[str, ...]], number: int, as_string: bool
) -> None:
    name, path = where
    event = parse_one(name, event_with(name, path, str(number) if as_string else number))
    assert type(get_at(event.data, path)) is int
    assert get_at(event.data, path) == number


@PROPERTY
@given(
    moment=moments,
    zone=st.sampled_from(["America/Sao_Paulo", "America/Manaus", "America/Noronha", "UTC", "Asia/Tokyo"]),
    separator=st.sampled_from([" ", "T"]),
)
def test_an_offset_less_timestamp_is_that_wall_time_in_the_configured_zone(
    moment: datetime, zone: str, separator: str
) -> None:
    sent = moment.isoformat(sep=separator)
    event = parse_one("receivedMessage", event_with("receivedMessage", ("send_at",), sent), ZoneInfo(zone))
    got = event.data["send_at"]
    assert got.utcoffset() == timedelta(0)
    # Compared in UTC: an inter-zone == is False for wall times in a DST gap or fold.
    assert got == moment.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


@PROPERTY
@given(moment=moments, offset=offsets, zone=st.sampled_from(["America/Sao_Paulo", "UTC", "Asia/Tokyo"]))
def test_a_timestamp_with_an_offset_is_the_same_moment_whatever_the_configured_zone(
    moment: datetime, offset: timezone, zone: str
) -> None:
    aware = moment.replace(tzinfo=offset)
    event = parse_one("closedChat", event_with("closedChat", ("closed_at",), aware.isoformat()), ZoneInfo(zone))
    assert event.data["closed_at"] == aware.astimezone(UTC)
    assert event.data["closed_at"].utcoffset() == timedelta(0)


@PROPERTY
@given(seconds=epochs)
def test_an_epoch_number_is_that_moment_in_utc(seconds: int) -> None:
    event = parse_one("receivedMessage", event_with("receivedMessage", ("read_at",), seconds))
    assert event.data["read_at"] == datetime.fromtimestamp(seconds, UTC)
    assert event.data["read_at"].utcoffset() == timedelta(0)


# -- garbage is refused politely ------------------------------------------------

#: Field names of every schema, so that junk lands on declared fields too, at any depth.
field_names = st.sampled_from(sorted({key for schema in EVENT_SCHEMAS.values() for key in schema.fields}))
junk_events = st.dictionaries(
    field_names | st.text(max_size=8),
    st.recursive(
        json_scalars,
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(field_names | st.text(max_size=8), children, max_size=5)
        ),
        max_leaves=15,
    ),
    max_size=6,
)
event_names = st.sampled_from(sorted(EVENT_SCHEMAS)) | st.text(max_size=12)
junk_deliveries = st.fixed_dictionaries(
    {"token": st.just(TOKEN), "messages": st.dictionaries(event_names, st.lists(junk_events, max_size=3), max_size=3)},
    optional={"time": epochs},
)
delivery_like = st.fixed_dictionaries(
    {},
    optional={
        "time": epochs | json_values,
        "messages": st.dictionaries(event_names, st.lists(junk_events | json_values, max_size=3) | json_values)
        | json_values,
        "token": st.just(TOKEN) | json_values,
        "validToken": st.just(True) | json_values,
    },
)


def is_delivery_shaped(payload: Any) -> bool:
    """Shaped like a delivery Huggy could send: any answer but 200 to it would be wrong."""
    if not isinstance(payload, dict) or payload.get("token") != TOKEN or "messages" not in payload:
        return False
    messages, moment = payload["messages"], payload.get("time")
    if moment is not None and not (type(moment) is int and 0 <= moment <= 4_102_444_800):
        return False
    if messages == []:
        return True
    return isinstance(messages, dict) and all(
        isinstance(events, list) and all(isinstance(event, dict) for event in events) for events in messages.values()
    )


def assert_polite(response: TestResponse) -> None:
    """Never a 5xx; every refusal is JSON saying what went wrong."""
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code == 200 and response.mimetype == "text/plain":
        return  # the handshake's answer: the token itself (see assert_accepted_only_if_well_formed)
    body = response.get_json(silent=True)
    assert isinstance(body, dict), response.get_data(as_text=True)
    if response.status_code >= 400:
        assert isinstance(body.get("error"), str) and body["error"]
        assert isinstance(body.get("message"), str) and body["message"]


def assert_accepted_only_if_well_formed(payload: Any, response: TestResponse) -> None:
    if response.status_code != 200:
        return
    if response.mimetype == "text/plain":  # Huggy's URL check, with the right token
        assert payload.get("validToken") is True and payload.get("token") == TOKEN and "messages" not in payload
        assert response.get_data(as_text=True) == TOKEN
        return
    body = response.get_json()
    assert body["status"] == "accepted"
    assert isinstance(payload, dict) and payload.get("token") == TOKEN
    messages = payload["messages"]
    count = 0 if messages == [] else sum(len(events) for events in messages.values())
    assert body["events"] == count and 0 <= body["invalid"] <= count
    assert payload.get("time") is None or isinstance(payload["time"], (int, float, str))


@FUZZ
@given(payload=json_values | delivery_like | junk_deliveries, mode=st.sampled_from(["lenient", "strict"]))
@example(payload={"time": 1524155854, "messages": {}, "token": TOKEN}, mode="lenient")
@example(payload={"time": 1524155854, "messages": [], "token": TOKEN}, mode="strict")
@example(
    payload={"messages": {"receivedMessage": [{"sender": {"organizations": [{"id": "x"}]}}]}, "token": TOKEN},
    mode="strict",
)
def test_any_json_gets_a_json_answer_never_a_server_error_and_200_only_for_a_delivery(
    webhooks: dict[str, Webhook], payload: Any, mode: str
) -> None:
    response = webhooks[mode].post(json=payload)
    assert_polite(response)
    assert_accepted_only_if_well_formed(payload, response)
    if is_delivery_shaped(payload) and mode == "lenient":
        assert response.status_code == 200, response.get_json()


@FUZZ
@given(body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
@example(body=b"")
@example(body=b"\xff\xfe{}")
@example(body=b'{"token": "x", "token": "y"}')
@example(body=b'{"time": NaN, "messages": {}}')
@example(body=b"[" * 100_000)
@example(body=b'{"time": 1, "messages": {}, "token": "' + TOKEN.encode() + b'"}')
def test_any_bytes_get_a_json_answer_never_a_server_error_and_200_only_for_a_delivery(
    webhooks: dict[str, Webhook], body: bytes
) -> None:
    response = webhooks["lenient"].post(data=body, content_type="application/json")
    assert_polite(response)
    if response.status_code == 200:
        assert_accepted_only_if_well_formed(json.loads(body), response)
