"""Fuzzing the webhook with mutated real deliveries: it never falls over.

Every mutation starts from a delivery of Huggy's docs and breaks it the way a
buggy proxy, a hostile client or a future Huggy might: types swapped, keys
deleted, huge strings, deep nesting, invalid UTF-8, NaN, repeated keys. The
webhook must answer 200 or a JSON 4xx, never a 5xx, never log a traceback, and a
200 must have fired exactly the events of the payload, in order.

The example count comes from ``HUGGY_FUZZ_EXAMPLES`` (default 500 per test, a
few thousand in all); for a long run::

    HUGGY_FUZZ_EXAMPLES=100000 .venv/bin/python -m pytest tests/test_fuzz.py
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_huggy import signals

from .conftest import SAMPLE_NAMES, TOKEN, create_app, load_payload

EXAMPLES = int(os.environ.get("HUGGY_FUZZ_EXAMPLES", "500"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

DELIVERIES = [load_payload(name) for name in SAMPLE_NAMES]
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


class Capture(logging.Handler):
    """Every log record of the app and the library, to look for tracebacks."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def target() -> Iterator[tuple[Flask, list[str], Capture]]:
    """A production-like app (TESTING off), the event names it fired, and its logs."""
    # A limit above the 1 MiB default, so that ten thousand events fit in one body.
    app = create_app(TESTING=False, HUGGY_MAX_CONTENT_LENGTH=16 * 1024 * 1024)
    fired: list[str] = []

    def on_event(sender: Any, event: Any, **extra: Any) -> None:
        fired.append(event.name)
        assert event.data is not None  # validation runs for every event, as with any receiver reading it

    signals.event_received.connect(on_event, sender=app)
    capture = Capture()
    loggers = [logging.getLogger("flask_huggy"), app.logger]
    for logger in loggers:
        logger.addHandler(capture)
    yield app, fired, capture
    for logger in loggers:
        logger.removeHandler(capture)
    signals.event_received.disconnect(on_event, sender=app)


def expected_events(body: bytes) -> list[str] | None:
    """The event names a 200 must have fired, or None if the body is no delivery."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    messages = payload.get("messages") if isinstance(payload, dict) else None
    if messages == []:
        return []  # PHP's empty array: a delivery without events
    if not isinstance(messages, dict):
        return None
    return [name for name, items in messages.items() if isinstance(items, list) for _ in items]


def check(target: tuple[Flask, list[str], Capture], body: bytes) -> None:
    app, fired, capture = target
    fired.clear()
    capture.records.clear()

    response = app.test_client().post("/huggy/webhook", data=body)

    assert response.status_code == 200 or 400 <= response.status_code < 500, response.get_data()[:300]
    assert response.is_json
    answer = response.get_json()
    if response.status_code == 200:
        assert fired == expected_events(body)
        assert answer["events"] == len(fired)
    else:
        assert set(answer) >= {"error", "message"}
        assert fired == []
    assert not [r for r in capture.records if r.exc_info or r.levelno >= logging.ERROR]


# -- mutations of real deliveries --------------------------------------------------


@st.composite
def mutated_delivery(draw: st.DrawFn) -> bytes:
    payload = json.loads(json.dumps(draw(st.sampled_from(DELIVERIES))))
    for _ in range(draw(st.integers(1, 4))):
        mutate(draw, payload)
    return json.dumps(payload, ensure_ascii=draw(st.booleans())).encode()


def paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield from paths(value, (*prefix, index))


def mutate(draw: st.DrawFn, payload: dict[str, Any]) -> None:
    candidates = [p for p in paths(payload) if p]
    if not candidates:  # an earlier mutation emptied the payload
        return
    path = draw(st.sampled_from(candidates))
    parent = payload
    for step in path[:-1]:
        parent = parent[step]
    key = path[-1]
    action = draw(st.sampled_from(["swap", "delete", "huge", "deep", "add"]))
    if action == "delete" and isinstance(parent, dict):
        del parent[key]
    elif action == "huge":
        parent[key] = draw(st.sampled_from(["x" * 200_000, 10**200, "9" * 4000, "😀" * 50_000]))
    elif action == "deep":
        deep: Any = 1
        for _ in range(draw(st.integers(10, 900))):
            deep = [deep]
        parent[key] = deep
    elif action == "add" and isinstance(parent, dict):
        parent[draw(st.text(max_size=10))] = draw(JSON_VALUES)
    else:
        parent[key] = draw(JSON_VALUES)


@FUZZ
@given(body=mutated_delivery())
def test_mutated_deliveries_get_200_or_a_json_4xx_and_a_200_fired_exactly_the_payload(target, body) -> None:
    check(target, body)


@st.composite
def corrupted_bytes(draw: st.DrawFn) -> bytes:
    body = json.dumps(draw(st.sampled_from(DELIVERIES))).encode()
    kind = draw(st.sampled_from(["utf8", "nan", "duplicate", "truncate", "flip"]))
    at = draw(st.integers(0, len(body) - 1))
    if kind == "utf8":
        return body[:at] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf0\x28\x8c"])) + body[at:]
    if kind == "nan":
        return body.replace(
            b'"time": ', b'"time": ' + draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity"])) + b', "t0": ', 1
        )
    if kind == "duplicate":
        return body.replace(b'"messages": {', b'"messages": {"closedChat": [{"id": 1}], "closedChat": [], ', 1).replace(
            b'"token"', b'"token": "x", "token"', draw(st.integers(0, 1))
        )
    if kind == "truncate":
        return body[:at]
    return body[:at] + bytes([body[at] ^ (1 << draw(st.integers(0, 7)))]) + body[at + 1 :]


@FUZZ
@given(body=corrupted_bytes())
def test_corrupted_bytes_of_real_deliveries_never_crash_the_webhook(target, body) -> None:
    check(target, body)


def test_a_delivery_nested_a_hundred_thousand_levels_deep_is_a_400(target) -> None:
    body = b'{"token": "%s", "messages": {"closedChat": [' % TOKEN.encode() + b"[" * 100_000 + b"]" * 100_000 + b"]}}"

    check(target, body)
