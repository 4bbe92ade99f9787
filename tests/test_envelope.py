"""The envelope: what ``parse_delivery`` takes, refuses and builds.

The envelope is read by plain code (three keys), not a schema. What it answers is
pinned against the marshmallow schema it replaced, kept here as the specification:
for any envelope, ``parse_delivery`` accepts exactly what that schema loads, with
the same ``time``, the token kept when it is a string, and the events in payload
order (each the very object Huggy sent); and refuses exactly what the schema
refuses, with the schema's messages as ``fields``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import INCLUDE, Schema, ValidationError, fields

from flask_huggy import DeliveryRejected
from flask_huggy.envelope import delivery_time, parse_delivery
from flask_huggy.schemas import EVENT_SCHEMAS
from tests.conftest import ODD_VALUES, SAMPLE_NAMES, changed, load_payload

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


class _Time(fields.Field):  # type: ignore[type-arg]
    # The time's own rule is pinned by tests/field_answers.json ("delivery_time"),
    # whose answers are those of the schema's former EpochTime field, value for value.
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        return delivery_time(value)


class _Messages(fields.Field):  # type: ignore[type-arg]
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, list) and not value:
            return []
        if not isinstance(value, dict):
            raise ValidationError("Must be an object mapping each event name to a list of events.")
        events, errors = [], {}
        for name, items in value.items():
            if not isinstance(items, list):
                errors[name] = ["Must be a list of event objects."]
                continue
            wrong = {index: ["Must be an object."] for index, item in enumerate(items) if not isinstance(item, dict)}
            if wrong:
                errors[name] = wrong
                continue
            events.extend((name, item) for item in items)
        if errors:
            raise ValidationError(errors)
        return events


class Specification(Schema):
    """The envelope as the marshmallow schema of earlier versions read it."""

    class Meta:
        unknown = INCLUDE

    time = _Time(allow_none=True)
    token = fields.Raw(allow_none=True)
    messages = _Messages(required=True)


SPECIFICATION = Specification()


def assert_answers_as_specified(envelope: Mapping[str, Any]) -> None:
    before = copy.deepcopy(envelope)
    try:
        expected = SPECIFICATION.load(envelope)
    except ValidationError as exc:
        with pytest.raises(DeliveryRejected) as refused:
            parse_delivery(envelope, SAO_PAULO)
        assert (refused.value.code, refused.value.error) == (400, "invalid_envelope")
        assert refused.value.details["fields"] == exc.messages
    else:
        delivery = parse_delivery(envelope, SAO_PAULO, endpoint_name="b")
        assert delivery.time == expected.get("time")
        token = expected.get("token")
        assert delivery.token == (token if isinstance(token, str) else None)
        assert [(event.name, event.raw) for event in delivery.events] == expected["messages"]
        assert all(event.raw is raw for event, (_, raw) in zip(delivery.events, expected["messages"]))
        assert delivery.raw is envelope
        assert delivery.endpoint_name == "b"
    assert [envelope] == [before], "the envelope was changed"  # in a list: nan equals itself there


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_every_docs_envelope_and_every_odd_value_in_it_answer_as_specified(sample: str) -> None:
    envelope = load_payload(sample)
    delivery = parse_delivery(envelope, SAO_PAULO)
    assert [event.name for event in delivery.events] == [
        name for name, items in envelope["messages"].items() for _ in items
    ]
    assert_answers_as_specified(envelope)
    for key in ("time", "token", "messages"):
        assert_answers_as_specified(changed(envelope, (key,), delete=True))
        for value in ODD_VALUES:
            assert_answers_as_specified(changed(envelope, (key,), value))


def test_the_time_is_epoch_seconds_read_as_utc_and_the_token_is_kept_only_as_a_string() -> None:
    delivery = parse_delivery({"time": "1524146026", "token": 5, "messages": []}, SAO_PAULO)
    assert delivery.time == datetime(2018, 4, 19, 13, 53, 46, tzinfo=timezone.utc)
    assert (delivery.token, delivery.events) == (None, ())


def test_every_fault_of_an_envelope_is_named_at_once() -> None:
    with pytest.raises(DeliveryRejected) as refused:
        parse_delivery({"time": True, "messages": {"closedChat": [{}, 1, "x"], "leftQueue": {}}}, SAO_PAULO)
    assert refused.value.details["fields"] == {
        "time": ["Not a valid epoch time in seconds."],
        "messages": {
            "closedChat": {1: ["Must be an object."], 2: ["Must be an object."]},
            "leftQueue": ["Must be a list of event objects."],
        },
    }


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
odd_values = st.sampled_from(ODD_VALUES) | json_scalars
envelope_values = st.one_of(
    odd_values, st.sampled_from([1562879079, 1562879079.5, "1562879079", 10**12, -1, 10**400, "nan", "-inf"])
)
message_maps = st.one_of(
    st.dictionaries(
        st.sampled_from(sorted(EVENT_SCHEMAS)) | st.text(max_size=6),
        st.lists(st.dictionaries(st.text(max_size=4), json_scalars, max_size=2) | odd_values, max_size=3) | odd_values,
        max_size=3,
    ),
    odd_values,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    envelope=st.fixed_dictionaries(
        {},
        optional={"time": envelope_values, "messages": message_maps, "token": envelope_values, "extra": odd_values},
    ),
)
def test_any_envelope_answers_as_specified(envelope: dict[str, Any]) -> None:
    assert_answers_as_specified(envelope)
