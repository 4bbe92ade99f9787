"""How flask-huggy reads Huggy's PHP-flavoured values, one habit per table.

The tables load a variant of a sample from Huggy's docs through the schemas
(:func:`flask_huggy.envelope.parse_delivery`, as a worker does): what a field answers
needs no request. A handful of tests post to the webhook, end to end, where the
answer is the webhook's (the signals fired, the response, ``HUGGY_STRICT``,
``HUGGY_TIMEZONE``). ``tests/field_answers.json`` pins every field's answer over
a pool of odd values (:mod:`tests.field_answers`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient

import flask_huggy
from flask_huggy.testing import SignalRecorder
from tests import field_answers
from tests.conftest import SAMPLE_NAMES, load_payload

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
UTC = timezone.utc
WEBHOOK = "/huggy/webhook"

Path = Sequence[Any]


# -- helpers -----------------------------------------------------------------


def event_name(delivery: dict[str, Any]) -> str:
    """The name of the first event of a delivery."""
    name: str = next(iter(delivery["messages"]))
    return name


def first_event(delivery: dict[str, Any]) -> dict[str, Any]:
    """The first event object of a delivery (the one the tables modify)."""
    event: dict[str, Any] = delivery["messages"][event_name(delivery)][0]
    return event


def get_at(obj: Any, path: Path) -> Any:
    for key in path:
        obj = obj[key]
    return obj


def set_at(obj: Any, path: Path, value: Any) -> None:
    get_at(obj, path[:-1])[path[-1]] = value


def sample_with(name: str, path: Path, value: Any) -> dict[str, Any]:
    """The docs' sample ``name`` with its first event's ``path`` set to ``value``."""
    delivery = load_payload(name)
    set_at(first_event(delivery), path, value)
    return delivery


def received(client: FlaskClient, recorder: SignalRecorder, delivery: dict[str, Any]) -> flask_huggy.Event:
    """Post ``delivery``, check it was accepted, and return the first event its receivers got."""
    response = client.post(WEBHOOK, json=delivery)
    assert response.status_code == 200, response.get_json()
    events: list[flask_huggy.Event] = recorder.events(event_name(delivery))
    assert events, f"{event_name(delivery)} did not fire; signals sent: {recorder.names()}"
    return events[0]


def parsed(delivery: dict[str, Any], tz: tzinfo = SAO_PAULO) -> flask_huggy.Event:
    """The first event of ``delivery`` as :func:`flask_huggy.envelope.parse_delivery` builds it."""
    return flask_huggy.envelope.parse_delivery(delivery, tz).events[0]


def loaded(delivery: dict[str, Any]) -> flask_huggy.Event:
    """The first event of ``delivery``, checked valid: the schema's answer, as a receiver would get it."""
    event = parsed(delivery)
    assert event.is_valid, event.errors
    return event


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def is_aware_utc(moment: Any) -> bool:
    return isinstance(moment, datetime) and moment.utcoffset() == timedelta(0)


# -- ids -----------------------------------------------------------------------

#: (sample, path of a field declared with ``Id``), top level and nested.
ID_FIELDS = [
    ("receivedMessage", ("id",)),
    ("receivedMessage", ("sender", "id")),
    ("receivedMessage", ("customer", "id")),
    ("receivedMessage", ("chat", "id")),
    ("receivedMessage", ("company", "id")),
    ("newInternalMessage", ("sender", "statusID")),
    ("newInternalMessage", ("chat", "workflowID")),
    ("closedChat", ("id",)),
    ("startedChat", ("channel", "id")),
    ("agentChangedStatus", ("statusID",)),
    ("startedAutomationFlow", ("chatID",)),
    ("startedAutomationFlow", ("companyID",)),
    ("startedAutomationFlow", ("flowID",)),
    ("startedAutomationFlow", ("lastActionID",)),
    ("updatedWorkflowStep", ("chat", "workflowID")),
    ("updatedWorkflowStep", ("step", "workflow", "id")),
    ("startedWidgetAttendance", ("widget",)),
    ("createdCustomer", ("organizations", 0, "id")),
]
ID_FIELD_IDS = [f"{name}:{'.'.join(map(str, path))}" for name, path in ID_FIELDS]


@pytest.mark.parametrize(("name", "path"), ID_FIELDS, ids=ID_FIELD_IDS)
@pytest.mark.parametrize(
    ("sent", "expected"),
    [(40419, 40419), ("40419", 40419), ("0", 0), ("007", 7), ("-12", -12), ("", None), (None, None)],
    ids=repr,
)
def test_ids_sent_as_numbers_or_numeric_strings_arrive_as_int(
    name: str, path: Path, sent: Any, expected: int | None
) -> None:
    event = loaded(sample_with(name, path, sent))
    got = get_at(event.data, path)
    assert got == expected
    assert type(got) is (int if expected is not None else type(None))


@pytest.mark.parametrize(("name", "path"), ID_FIELDS, ids=ID_FIELD_IDS)
@pytest.mark.parametrize("sent", ["abc", "40419x", "4O419", "1 2", "0x1F", True, False, {"x": 1}, [1]], ids=repr)
def test_an_id_that_is_not_numeric_or_is_a_bool_fails_validation(name: str, path: Path, sent: Any) -> None:
    event = parsed(sample_with(name, path, sent))
    assert not event.is_valid
    assert get_at(event.errors, path)


@pytest.mark.parametrize(("sent", "expected"), [(51917884, 51917884), ("51917884", 51917884), ("", None)], ids=repr)
def test_ids_are_coerced_the_same_way_without_a_request(sent: Any, expected: int | None) -> None:
    event = parsed(sample_with("receivedMessage", ("id",), sent))
    assert event.is_valid
    assert event.data["id"] == expected


def test_an_id_too_long_to_convert_is_an_invalid_event_not_a_server_error(
    client: FlaskClient, recorder: SignalRecorder
) -> None:
    # Python refuses int() on strings of more than 4300 digits (CVE-2020-10735);
    # such an id must be a validation error like any other impossible id.
    delivery = sample_with("receivedMessage", ("id",), "9" * 5000)
    response = client.post(WEBHOOK, json=delivery)
    assert response.status_code == 200
    assert response.get_json()["invalid"] == 1
    assert recorder.names() == ["huggy.invalid_event", "huggy.event_received", "huggy.delivery_received"]


# -- objects Huggy replaces by false / null / "" / [] --------------------------

#: (sample, path of a field holding an object: LooseNested or an object-or-scalar Either).
OBJECT_FIELDS = [
    ("receivedMessage", ("receiver",)),
    ("receivedMessage", ("sender",)),
    ("receivedMessage", ("customer",)),
    ("receivedMessage", ("chat",)),
    ("receivedMessage", ("company",)),
    ("receivedMessage", ("file",)),
    ("receivedMessage", ("chat", "department")),
    ("newInternalMessage", ("chat", "customer")),
    ("startedChat", ("channel",)),
    ("startedChat", ("department",)),
    ("startedChat", ("contact",)),
    ("leftQueue", ("agent",)),
    ("agentEntered", ("customer",)),
    ("agentEntered", ("agent",)),
    ("agentEntered", ("department",)),
    ("closedChat", ("tabulation",)),
    ("updatedWorkflowStep", ("agent",)),
    ("updatedWorkflowStep", ("chat",)),
    ("updatedWorkflowStep", ("step",)),
    ("updatedWorkflowStep", ("previousStep",)),
    ("updatedWorkflowStep", ("step", "workflow")),
    ("startedAutomationFlow", ("company",)),
    ("createdCustomer", ("company",)),
    ("asyncExportData", ("company",)),
]
OBJECT_FIELD_IDS = [f"{name}:{'.'.join(map(str, path))}" for name, path in OBJECT_FIELDS]


@pytest.mark.parametrize(("name", "path"), OBJECT_FIELDS, ids=OBJECT_FIELD_IDS)
@pytest.mark.parametrize("absent", [False, None, "", []], ids=repr)
def test_false_null_empty_string_or_empty_list_in_place_of_an_object_arrive_as_none(
    name: str, path: Path, absent: Any
) -> None:
    event = loaded(sample_with(name, path, absent))
    assert get_at(event.data, path) is None


def test_the_receiver_of_a_message_waiting_in_the_queue_is_none_as_in_the_docs(
    client: FlaskClient, recorder: SignalRecorder
) -> None:
    event = received(client, recorder, load_payload("receivedMessage"))
    assert event.raw["receiver"] is False
    assert event.data["receiver"] is None


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ({"id": "77", "name": "Venda"}, {"id": 77, "name": "Venda"}),
        ("Venda", "Venda"),
    ],
    ids=["object", "string"],
)
def test_a_tabulation_sent_as_an_object_or_a_name_is_kept_in_its_shape(sent: Any, expected: Any) -> None:
    event = parsed(sample_with("closedChat", ("tabulation",), sent))
    assert event.data["tabulation"] == expected


# -- custom_fields and flow context ------------------------------------------

#: (sample, path of a free-form mapping).
MAPPING_FIELDS = [
    ("createdCustomer", ("custom_fields",)),
    ("updatedCustomer", ("custom_fields",)),
    ("leftQueue", ("contact", "custom_fields")),
    ("newInternalMessage", ("receiver", "custom_fields")),
    ("newInternalMessage", ("chat", "customer", "custom_fields")),
    ("startedAutomationFlow", ("context",)),
    ("finishedAutomationFlow", ("context",)),
]
MAPPING_FIELD_IDS = [f"{name}:{'.'.join(map(str, path))}" for name, path in MAPPING_FIELDS]

#: Dotted keys like Huggy's own (``SYSTEM.CHAT_ID``) and a flow author's, with
#: values that look like ids, flags and timestamps but must not be coerced.
DOTTED_MAPPING: dict[str, Any] = {
    "SYSTEM.CHAT_ID": "99999",
    "SYSTEM.CHAT_CREATED_DATE": "2024-02-29 22:21:47",
    "SYSTEM.DEPARTMENT_ORDER": None,
    "huggy.chat.agent.id": 40419,
    "huggy.chat.agent.name": "João 🙂",
    "hash_fluxo.pergunta": "Resposta",
    "is.active": "1",
    "closed": False,
    "empty.list": [],
    "nested.value": {"a.b": [1, "2", False, None], "c": {}},
    "ratio": 0.5,
    "": "",
}


@pytest.mark.parametrize(("name", "path"), MAPPING_FIELDS, ids=MAPPING_FIELD_IDS)
@pytest.mark.parametrize("empty", [{}, []], ids=repr)
def test_an_empty_mapping_sent_as_object_or_php_array_arrives_as_an_empty_dict(
    name: str, path: Path, empty: Any
) -> None:
    event = loaded(sample_with(name, path, empty))
    got = get_at(event.data, path)
    assert got == {}
    assert isinstance(got, dict)


@pytest.mark.parametrize(("name", "path"), MAPPING_FIELDS, ids=MAPPING_FIELD_IDS)
def test_dotted_keys_and_their_values_are_kept_verbatim(name: str, path: Path) -> None:
    event = loaded(sample_with(name, path, copy.deepcopy(DOTTED_MAPPING)))
    got = get_at(event.data, path)
    assert got == DOTTED_MAPPING
    assert list(got) == list(DOTTED_MAPPING)
    assert {key: type(value) for key, value in got.items()} == {
        key: type(value) for key, value in DOTTED_MAPPING.items()
    }


@pytest.mark.parametrize(
    "name", ["startedAutomationFlow", "finishedAutomationFlow", "startedAutomationFlow+finishedAutomationFlow-2"]
)
def test_the_flow_context_of_the_docs_samples_is_kept_exactly_as_sent(name: str) -> None:
    delivery = load_payload(name)
    for event in flask_huggy.envelope.parse_delivery(delivery, SAO_PAULO).events:
        assert event.is_valid
        assert event.data["context"] == event.raw["context"]


# -- flags ---------------------------------------------------------------------

FLAG_FIELDS = [
    ("receivedMessage", ("is_internal",)),
    ("receivedMessage", ("is_email",)),
    ("newInternalMessage", ("is_internal",)),
    ("closedChat", ("closed",)),
    ("agentChangedStatus", ("isActive",)),
    ("agentChangedStatus", ("isOnline",)),
    ("agentChangedStatus", ("isAvailable",)),
    ("newInternalMessage", ("sender", "isOnline")),
]
FLAG_FIELD_IDS = [f"{name}:{'.'.join(map(str, path))}" for name, path in FLAG_FIELDS]


@pytest.mark.parametrize(("name", "path"), FLAG_FIELDS, ids=FLAG_FIELD_IDS)
@pytest.mark.parametrize(
    ("sent", "expected"),
    [(True, True), (False, False), (1, True), (0, False), ("1", True), ("0", False)],
    ids=repr,
)
def test_flags_sent_as_booleans_numbers_or_digit_strings_arrive_as_bool(
    name: str, path: Path, sent: Any, expected: bool
) -> None:
    event = loaded(sample_with(name, path, sent))
    assert get_at(event.data, path) is expected


def test_the_closed_flag_of_the_docs_closed_chat_sample_is_true() -> None:
    event = parsed(load_payload("closedChat"))
    assert event.raw["closed"] == 1
    assert event.data["closed"] is True


# -- timestamps ----------------------------------------------------------------

TIMESTAMP_FIELDS = [
    ("receivedMessage", ("send_at",)),
    ("receivedMessage", ("read_at",)),
    ("newInternalMessage", ("send_at",)),
    ("closedChat", ("closed_at",)),
]
TIMESTAMP_FIELD_IDS = [f"{name}:{'.'.join(map(str, path))}" for name, path in TIMESTAMP_FIELDS]

#: What Huggy may send for one moment, 2018-04-19 13:37:34 in São Paulo (UTC-3).
TIMESTAMPS = [
    ("2018-04-19 13:37:34", utc(2018, 4, 19, 16, 37, 34)),
    ("2018-04-19T13:37:34", utc(2018, 4, 19, 16, 37, 34)),
    ("2018-04-19 13:37:34-03:00", utc(2018, 4, 19, 16, 37, 34)),
    ("2018-04-19T16:37:34+00:00", utc(2018, 4, 19, 16, 37, 34)),
    ("2018-04-19T16:37:34Z", utc(2018, 4, 19, 16, 37, 34)),
    ("2018-04-19T22:07:34+05:30", utc(2018, 4, 19, 16, 37, 34)),
    (1524155854, utc(2018, 4, 19, 16, 37, 34)),
    (1524155854.5, utc(2018, 4, 19, 16, 37, 34) + timedelta(milliseconds=500)),
    (1524155854000, utc(2018, 4, 19, 16, 37, 34)),
]


@pytest.mark.parametrize(("name", "path"), TIMESTAMP_FIELDS, ids=TIMESTAMP_FIELD_IDS)
@pytest.mark.parametrize(("sent", "expected"), TIMESTAMPS, ids=repr)
def test_timestamps_arrive_as_aware_utc_datetimes(name: str, path: Path, sent: Any, expected: datetime) -> None:
    event = loaded(sample_with(name, path, sent))
    got = get_at(event.data, path)
    assert got == expected
    assert is_aware_utc(got)


@pytest.mark.parametrize(("name", "path"), TIMESTAMP_FIELDS, ids=TIMESTAMP_FIELD_IDS)
@pytest.mark.parametrize("not_yet", [None, False, ""], ids=repr)
def test_a_timestamp_that_has_not_happened_yet_arrives_as_none(name: str, path: Path, not_yet: Any) -> None:
    event = loaded(sample_with(name, path, not_yet))
    assert get_at(event.data, path) is None


def test_send_at_of_the_received_message_sample_is_the_deliverys_epoch_time(
    client: FlaskClient, recorder: SignalRecorder
) -> None:
    # The docs' sample: time 1524155854 (16:37:34 UTC), send_at "2018-04-19 13:37:34".
    event = received(client, recorder, load_payload("receivedMessage"))
    (delivery,) = recorder.deliveries()
    assert event.data["send_at"] == utc(2018, 4, 19, 16, 37, 34)
    assert delivery.time == utc(2018, 4, 19, 16, 37, 34)


STAMPED_SAMPLES = [
    (name, field)
    for name in SAMPLE_NAMES
    for events in load_payload(name)["messages"].values()
    for field in ("send_at", "closed_at")
    if isinstance(events[0].get(field), str)
]


@pytest.mark.parametrize(("name", "field"), STAMPED_SAMPLES, ids=[f"{n}:{f}" for n, f in STAMPED_SAMPLES])
def test_every_docs_sample_is_stamped_within_seconds_of_its_delivery_time(name: str, field: str) -> None:
    # Read as UTC, the samples' stamps would be 3 hours before Huggy sent them.
    delivery = flask_huggy.envelope.parse_delivery(load_payload(name), SAO_PAULO)
    stamps = [event.data[field] for event in delivery.events if field in event.raw]
    assert stamps
    for stamp in stamps:
        assert delivery.time is not None
        assert timedelta(0) <= delivery.time - stamp <= timedelta(seconds=5)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("America/Sao_Paulo", utc(2018, 4, 19, 16, 37, 34)),
        ("UTC", utc(2018, 4, 19, 13, 37, 34)),
        ("America/Manaus", utc(2018, 4, 19, 17, 37, 34)),
        ("Asia/Tokyo", utc(2018, 4, 19, 4, 37, 34)),
    ],
)
def test_huggy_timezone_says_how_offset_less_timestamps_are_read(make_app, zone: str, expected: datetime) -> None:
    app = make_app(HUGGY_TIMEZONE=zone)
    with SignalRecorder(sender=app) as recorder:
        event = received(app.test_client(), recorder, load_payload("receivedMessage"))
    assert event.data["send_at"] == expected


@pytest.mark.parametrize(
    "sent", ["2018-04-19 13:37:34-03:00", "2018-04-19T16:37:34Z", 1524155854, 1524155854000], ids=repr
)
@pytest.mark.parametrize("zone", ["America/Sao_Paulo", "UTC", "Asia/Tokyo"])
def test_huggy_timezone_does_not_change_timestamps_with_an_offset_or_epochs(make_app, zone: str, sent: Any) -> None:
    app = make_app(HUGGY_TIMEZONE=zone)
    with SignalRecorder(sender=app) as recorder:
        event = received(app.test_client(), recorder, sample_with("receivedMessage", ("send_at",), sent))
    assert event.data["send_at"] == utc(2018, 4, 19, 16, 37, 34)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [(SAO_PAULO, utc(2020, 3, 5, 20, 21, 10)), (ZoneInfo("UTC"), utc(2020, 3, 5, 17, 21, 10))],
    ids=["Sao_Paulo", "UTC"],
)
def test_parse_delivery_reads_offset_less_timestamps_in_the_zone_it_is_given(zone: tzinfo, expected: datetime) -> None:
    event = parsed(load_payload("closedChat"), zone)
    assert event.data["closed_at"] == expected
    assert is_aware_utc(event.data["closed_at"])


def test_a_timestamp_too_large_for_a_float_is_an_invalid_event_not_a_server_error(
    client: FlaskClient, recorder: SignalRecorder
) -> None:
    # Valid JSON (an integer of 401 digits), but no moment: it must fail validation.
    delivery = sample_with("receivedMessage", ("send_at",), 10**400)
    response = client.post(WEBHOOK, json=delivery)
    assert response.status_code == 200
    assert response.get_json()["invalid"] == 1
    assert recorder.names() == ["huggy.invalid_event", "huggy.event_received", "huggy.delivery_received"]


def test_a_delivery_time_too_large_for_a_float_is_refused_as_an_invalid_envelope(
    client: FlaskClient, recorder: SignalRecorder
) -> None:
    delivery = load_payload("receivedMessage")
    delivery["time"] = 10**400
    response = client.post(WEBHOOK, json=delivery)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_envelope"
    assert "time" in response.get_json()["fields"]
    assert recorder.names() == ["huggy.delivery_refused"]  # and nothing else


# -- what Huggy adds without notice -------------------------------------------

UNKNOWN_VALUE = {"plan": "pro", "limits": [1, "2", None, {"a.b": False}], "since": "2024-01-01 00:00:00"}


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_an_unknown_top_level_field_is_kept_unchanged_in_data(name: str) -> None:
    event = loaded(sample_with(name, ("brandNewField",), copy.deepcopy(UNKNOWN_VALUE)))
    assert event.is_valid
    assert event.data["brandNewField"] == UNKNOWN_VALUE


NESTED_OBJECTS = [
    ("receivedMessage", ("sender",)),
    ("receivedMessage", ("chat",)),
    ("receivedMessage", ("company",)),
    ("newInternalMessage", ("chat", "customer")),
    ("startedChat", ("channel",)),
    ("updatedWorkflowStep", ("step", "workflow")),
    ("createdCustomer", ("organizations", 0)),
]


@pytest.mark.parametrize(
    ("name", "path"), NESTED_OBJECTS, ids=[f"{n}:{'.'.join(map(str, p))}" for n, p in NESTED_OBJECTS]
)
@pytest.mark.parametrize("value", ["2008", 2008, True, None, [], {}, copy.deepcopy(UNKNOWN_VALUE)], ids=repr)
def test_an_unknown_nested_field_is_kept_unchanged_in_data(name: str, path: Path, value: Any) -> None:
    event = loaded(sample_with(name, (*path, "brandNewField"), copy.deepcopy(value)))
    got = get_at(event.data, (*path, "brandNewField"))
    assert got == value
    assert type(got) is type(value)


def test_an_unknown_event_reaches_only_event_received_with_its_raw_object(
    client: FlaskClient, recorder: SignalRecorder
) -> None:
    future = {"id": "not an id", "chat": False, "send_at": "someday", "extra": {"a.b": [1]}}
    delivery = load_payload("receivedMessage")
    delivery["messages"] = {"chatTransferredToMars": [copy.deepcopy(future)]}
    response = client.post(WEBHOOK, json=delivery)
    assert response.get_json() == {"status": "accepted", "events": 1, "invalid": 0, "duplicates": 0}
    assert recorder.names() == ["huggy.event_received", "huggy.delivery_received"]
    (event,) = recorder.events("huggy.event_received")
    assert event.name == "chatTransferredToMars"
    assert event.data is event.raw
    assert event.data == future


def test_an_unknown_event_does_not_stop_the_known_ones_around_it(client: FlaskClient, recorder: SignalRecorder) -> None:
    delivery = load_payload("startedChat+receivedMessage")
    started, message = delivery["messages"]["startedChat"], delivery["messages"]["receivedMessage"]
    delivery["messages"] = {"startedChat": started, "someFutureEvent": [{"x": 1}], "receivedMessage": message}
    client.post(WEBHOOK, json=delivery)
    assert recorder.names() == [
        "startedChat",
        "huggy.event_received",
        "huggy.event_received",
        "receivedMessage",
        "huggy.event_received",
        "huggy.delivery_received",
    ]


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_huggy_adding_a_field_or_an_event_is_never_refused(make_app, name: str, strict: bool) -> None:
    client = make_app(HUGGY_STRICT=strict).test_client()
    delivery = sample_with(name, ("addedByHuggyIn2030",), {"anything": [True, 1, "x"]})
    delivery["messages"]["eventAddedByHuggyIn2030"] = [{"id": {"not": "an id"}}]
    response = client.post(WEBHOOK, json=delivery)
    assert response.status_code == 200
    assert response.get_json()["invalid"] == 0


# -- impossible values: lenient by default, refused with HUGGY_STRICT ----------

#: (sample, path, a value of an impossible type for that field).
IMPOSSIBLE = [
    ("receivedMessage", ("id",), {"x": 1}),
    ("receivedMessage", ("send_at",), "not a date"),
    ("receivedMessage", ("sender",), "Charles"),
    ("receivedMessage", ("is_internal",), "maybe"),
    ("receivedMessage", ("body",), {"text": "hi"}),
    ("closedChat", ("closed_at",), [2020, 3, 5]),
    ("startedAutomationFlow", ("context",), "SYSTEM.CHAT_ID=1"),
    ("agentChangedStatus", ("isOnline",), {"since": "10:00"}),
]
IMPOSSIBLE_IDS = [f"{n}:{'.'.join(map(str, p))}={v!r}" for n, p, v in IMPOSSIBLE]


def broken_then_valid(name: str, path: Path, value: Any) -> dict[str, Any]:
    """A delivery of two events: sample ``name`` broken at ``path``, then a valid closedChat."""
    delivery = sample_with(name, path, value)
    delivery["messages"].setdefault("closedChat", []).extend(load_payload("closedChat")["messages"]["closedChat"])
    return delivery


@pytest.mark.parametrize(("name", "path", "value"), IMPOSSIBLE, ids=IMPOSSIBLE_IDS)
def test_an_impossible_value_fires_invalid_event_instead_of_the_events_own_signal(
    client: FlaskClient, recorder: SignalRecorder, name: str, path: Path, value: Any
) -> None:
    delivery = broken_then_valid(name, path, value)
    response = client.post(WEBHOOK, json=delivery)
    assert response.status_code == 200
    assert response.get_json() == {"status": "accepted", "events": 2, "invalid": 1, "duplicates": 0}
    assert recorder.names()[:2] == ["huggy.invalid_event", "huggy.event_received"]
    assert recorder.names()[-1] == "huggy.delivery_received"
    if name != "closedChat":
        assert recorder.events(name) == []


@pytest.mark.parametrize(("name", "path", "value"), IMPOSSIBLE, ids=IMPOSSIBLE_IDS)
def test_invalid_event_receivers_get_the_event_the_delivery_and_the_errors(
    client: FlaskClient, recorder: SignalRecorder, name: str, path: Path, value: Any
) -> None:
    client.post(WEBHOOK, json=broken_then_valid(name, path, value))
    (invalid,) = recorder.calls_to("huggy.invalid_event")
    kwargs = invalid.kwargs
    (delivery,) = recorder.deliveries()
    assert set(kwargs) == {"event", "delivery", "errors"}
    assert kwargs["event"].name == name
    assert kwargs["delivery"] is delivery
    assert kwargs["errors"] == kwargs["event"].errors
    assert get_at(kwargs["errors"], path)
    assert kwargs["event"].data is kwargs["event"].raw


@pytest.mark.parametrize(("name", "path", "value"), IMPOSSIBLE, ids=IMPOSSIBLE_IDS)
def test_the_rest_of_a_delivery_is_processed_after_an_invalid_event(
    client: FlaskClient, recorder: SignalRecorder, name: str, path: Path, value: Any
) -> None:
    client.post(WEBHOOK, json=broken_then_valid(name, path, value))
    closed = recorder.events("closedChat")
    assert len(closed) == 1
    assert closed[0].is_valid
    assert closed[0].data["closed"] is True


@pytest.mark.parametrize(("name", "path", "value"), IMPOSSIBLE, ids=IMPOSSIBLE_IDS)
@pytest.mark.config(HUGGY_STRICT=True)
def test_with_huggy_strict_an_impossible_value_is_refused_with_422_and_nothing_fires(
    app: Flask, client: FlaskClient, recorder: SignalRecorder, name: str, path: Path, value: Any
) -> None:
    delivery = load_payload("closedChat")
    broken = first_event(sample_with(name, path, value))
    delivery["messages"].setdefault(name, []).append(broken)
    response = client.post(WEBHOOK, json=delivery)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "invalid_event"
    assert body["event"] == name
    assert body["index"] == 1
    assert get_at(body["fields"], path)
    assert recorder.names() == ["huggy.delivery_refused"]  # and nothing else


# -- every field's answers, type for type ------------------------------------------

#: The field's answer is a validation error, not a value.
REFUSED = object()
#: A mapping as Huggy sends custom_fields, with values that must stay as they are.
SENT_MAPPING: dict[str, Any] = {"SYSTEM.CHAT_ID": "99999", "n": 1, "flag": True, "ratio": 0.5}

#: (field kind, sample, path, sent, answer): what each field of ``fields.py`` answers,
#: compared type for type (``True``, ``1`` and ``1.0`` are different answers).
FIELD_ANSWERS: list[tuple[str, str, Path, Any, Any]] = [
    *[
        ("Id", "receivedMessage", ("id",), sent, answer)
        for sent, answer in [
            (40419, 40419),
            ("40419", 40419),
            ("007", 7),
            ("-12", -12),
            (-12, -12),
            (5.0, 5),
            (-3.0, -3),
            ("", None),
            (None, None),
            ("9" * 30, int("9" * 30)),
            ("-" + "9" * 30, -int("9" * 30)),
            ("9" * 31, REFUSED),
            (True, REFUSED),
            (False, REFUSED),
            (5.5, REFUSED),
            ("5.0", REFUSED),
            (" 5", REFUSED),
            ("+5", REFUSED),
            ("\u0663", REFUSED),
            ([], REFUSED),
        ]
    ],
    *[
        ("Integer", "receivedMessage", ("sender", "statusType"), sent, answer)
        for sent, answer in [
            (2, 2),
            ("2", 2),
            (2.0, 2),
            ("", None),
            (True, REFUSED),
            ("9" * 31, REFUSED),
        ]
    ],
    *[
        ("Flag", "closedChat", ("closed",), sent, answer)
        for sent, answer in [
            (True, True),
            (False, False),
            (1, True),
            (0, False),
            ("1", True),
            ("0", False),
            ("true", True),
            (" TRUE ", True),
            ("false", False),
            ("", False),
            (None, None),
            (2, REFUSED),
            (-1, REFUSED),
            (1.0, REFUSED),
            ("yes", REFUSED),
            ([], REFUSED),
        ]
    ],
    *[
        ("Text", "receivedMessage", ("body",), sent, answer)
        for sent, answer in [
            ("Olá", "Olá"),
            ("", ""),
            (5575999999999, "5575999999999"),
            (0, "0"),
            (1.5, "1.5"),
            (-0.0, "-0.0"),
            (None, None),
            (True, REFUSED),
            (False, REFUSED),
            ({}, REFUSED),
            ([], REFUSED),
        ]
    ],
    *[
        ("HuggyDateTime", "closedChat", ("closed_at",), sent, answer)
        for sent, answer in [
            ("2018-04-19 13:37:34", utc(2018, 4, 19, 16, 37, 34)),
            (" 2018-04-19T13:37:34 ", utc(2018, 4, 19, 16, 37, 34)),
            ("2018-04-19T22:07:34+05:30", utc(2018, 4, 19, 16, 37, 34)),
            (1524155854, utc(2018, 4, 19, 16, 37, 34)),
            (1524155854000, utc(2018, 4, 19, 16, 37, 34)),
            (1524155854.5, utc(2018, 4, 19, 16, 37, 34) + timedelta(milliseconds=500)),
            (False, None),
            ("", None),
            (None, None),
            (True, REFUSED),
            ("not a date", REFUSED),
            (10**400, REFUSED),
        ]
    ],
    *[
        ("LooseMapping", "createdCustomer", ("custom_fields",), sent, answer)
        for sent, answer in [
            (SENT_MAPPING, SENT_MAPPING),
            ({}, {}),
            ([], {}),
            (None, None),
            ("", REFUSED),
            ([1], REFUSED),
            (False, REFUSED),
        ]
    ],
]


def assert_same_type_and_value(got: Any, expected: Any) -> None:
    assert type(got) is type(expected), f"{got!r} is a {type(got).__name__}, not a {type(expected).__name__}"
    assert got == expected
    if isinstance(expected, datetime):
        assert got.tzinfo is UTC, f"{got!r}: the same moment, but not in datetime.timezone.utc"
    if isinstance(expected, dict):
        assert list(got) == list(expected)
        for key in expected:
            assert_same_type_and_value(got[key], expected[key])


@pytest.mark.parametrize(
    ("kind", "name", "path", "sent", "answer"),
    FIELD_ANSWERS,
    ids=[f"{kind}:{sent!r:.40}" for kind, _, _, sent, _ in FIELD_ANSWERS],
)
def test_each_field_answers_exactly_this_type_and_value(
    kind: str, name: str, path: Path, sent: Any, answer: Any
) -> None:
    event = parsed(sample_with(name, path, copy.deepcopy(sent)))
    if answer is REFUSED:
        assert not event.is_valid
        assert get_at(event.errors, path)
        return
    assert event.is_valid, event.errors
    got = get_at(event.data, path)
    assert_same_type_and_value(got, answer)
    if isinstance(sent, (dict, list)):
        # A mapping is the receiver's own copy: changing it must not change what Huggy sent.
        assert got is not get_at(event.raw, path)


@pytest.mark.parametrize("read", list(field_answers.stored()))
def test_each_field_answers_the_pool_of_odd_values_as_stored(read: str) -> None:
    # A difference that is meant: `python tests/field_answers.py --update`, then read the diff.
    now = dict(field_answers.current())
    assert now[read] == field_answers.stored()[read]
    assert set(now) == set(field_answers.stored())
