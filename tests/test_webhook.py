"""Deliveries go in, signals come out: the blueprint's main contract."""

from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest
from flask import Flask

import flask_huggy
from flask_huggy import signals

from .conftest import SAMPLE_NAMES, TOKEN, create_app, load_payload


def test_blueprint_is_named_huggy_and_serves_post_on_huggy_webhook(app: Flask) -> None:
    assert flask_huggy.blueprint.name == "huggy"
    rules = {rule.rule: rule.methods for rule in app.url_map.iter_rules() if rule.endpoint == "huggy.webhook"}
    assert list(rules) == ["/huggy/webhook"]
    assert "POST" in rules["/huggy/webhook"]


def test_quick_start_receiver_gets_the_closed_chat(client, app, payload) -> None:
    seen = []

    @signals.closed_chat.connect_via(app)
    def on_closed(app, event, delivery, **extra):
        seen.append((event.data["id"], event.data["closed_at"]))

    response = client.post("/huggy/webhook", json=payload("closedChat"))

    assert response.status_code == 200
    assert response.get_json() == {"status": "accepted", "events": 1, "invalid": 0, "duplicates": 0}
    assert seen == [(30608118, datetime(2020, 3, 5, 20, 21, 10, tzinfo=timezone.utc))]


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_docs_sample_is_accepted_and_fires_each_event(client, recorder, name) -> None:
    body = load_payload(name)
    expected = [event for event, items in body["messages"].items() for _ in items]

    response = client.post("/huggy/webhook", json=body)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["events"] == len(expected)
    assert [e.name for e in recorder.events("huggy.event_received")] == expected
    for event_name in set(expected):
        assert len(recorder.events(event_name)) == expected.count(event_name)
    assert all(e.errors is None for e in recorder.events("huggy.event_received"))


def test_events_fire_in_payload_order_and_delivery_received_fires_last(client, recorder) -> None:
    body = load_payload("startedChat+receivedMessage")
    chat = body["messages"]["startedChat"][0]
    message = body["messages"]["receivedMessage"][0]
    body["messages"] = {
        "receivedMessage": [message, {**message, "id": 2}],
        "startedChat": [chat],
        "closedChat": [{"id": 5, "closed_at": "2021-09-08 17:00:00"}],
        "somethingHuggyAddsLater": [{"id": 9}],
    }

    client.post("/huggy/webhook", json=body)

    assert recorder.names() == [
        "receivedMessage",
        "huggy.event_received",
        "receivedMessage",
        "huggy.event_received",
        "startedChat",
        "huggy.event_received",
        "closedChat",
        "huggy.event_received",
        "huggy.event_received",
        "huggy.delivery_received",
    ]
    delivery = recorder.deliveries()[0]
    assert [e.name for e in delivery.events] == [
        "receivedMessage",
        "receivedMessage",
        "startedChat",
        "closedChat",
        "somethingHuggyAddsLater",
    ]


def test_five_events_fire_five_signals_five_event_received_and_one_delivery_received(client, recorder) -> None:
    body = load_payload("startedAutomationFlow+finishedAutomationFlow")
    body["messages"]["closedChat"] = [{"id": n, "closed": 1} for n in range(3)]

    client.post("/huggy/webhook", json=body)

    names = recorder.names()
    assert names.count("huggy.event_received") == 5
    assert names.count("startedAutomationFlow") + names.count("finishedAutomationFlow") + names.count("closedChat") == 5
    assert names.count("huggy.delivery_received") == 1


def test_receivers_get_the_app_as_sender_and_event_and_delivery(client, app, recorder, payload) -> None:
    body = payload("receivedAllMessage")

    client.post("/huggy/webhook", json=body)

    first, *_ = recorder.calls
    name, sender, kwargs = first.name, first.sender, first.kwargs
    assert name == "receivedAllMessage"
    assert sender is app
    event, delivery = kwargs["event"], kwargs["delivery"]
    assert event.name == "receivedAllMessage"
    assert event.raw == body["messages"]["receivedAllMessage"][0]
    assert event.data["id"] == 423747203
    assert delivery.time == datetime(2019, 7, 11, 21, 4, 39, tzinfo=timezone.utc)
    assert delivery.token == TOKEN
    assert delivery.events == (event,)
    assert delivery.raw == body


def test_raw_is_the_object_as_sent_while_data_is_coerced(client, recorder, payload) -> None:
    body = payload("receivedMessage")
    sent = copy.deepcopy(body["messages"]["receivedMessage"][0])

    client.post("/huggy/webhook", json=body)

    event = recorder.events("receivedMessage")[0]
    assert event.raw == sent
    assert event.raw["id"] == "51917884" and event.data["id"] == 51917884
    assert event.raw["receiver"] is False and event.data["receiver"] is None


def test_unknown_event_reaches_event_received_with_raw_data(client, recorder) -> None:
    body = {"time": 1700000000, "token": TOKEN, "messages": {"chatTransferred": [{"id": "7", "to": {"id": 1}}]}}

    response = client.post("/huggy/webhook", json=body)

    assert response.status_code == 200
    (event,) = recorder.events("huggy.event_received")
    assert event.name == "chatTransferred"
    assert event.known is False
    assert event.data == {"id": "7", "to": {"id": 1}}
    assert recorder.names() == ["huggy.event_received", "huggy.delivery_received"]


def test_receivers_connected_to_another_app_hear_nothing(payload) -> None:
    first, second = create_app(), create_app(HUGGY_WEBHOOK_TOKEN="other-token-0000")
    heard = []

    @signals.closed_chat.connect_via(second)
    def on_closed(sender, **kwargs):
        heard.append(sender)

    first.test_client().post("/huggy/webhook", json=payload("closedChat"))
    assert heard == []
    second.test_client().post("/huggy/webhook", json=payload("closedChat", token="other-token-0000"))
    assert heard == [second]


def test_one_blueprint_serves_several_apps_each_with_its_own_token(payload) -> None:
    first, second = (
        create_app(HUGGY_WEBHOOK_TOKEN="token-of-first-app"),
        create_app(HUGGY_WEBHOOK_TOKEN="token-of-second"),
    )

    assert (
        first.test_client().post("/huggy/webhook", json=payload("closedChat", token="token-of-first-app")).status_code
        == 200
    )
    assert (
        second.test_client().post("/huggy/webhook", json=payload("closedChat", token="token-of-first-app")).status_code
        == 403
    )


def test_register_blueprint_with_url_prefix_moves_the_route(payload) -> None:
    app = Flask(__name__)
    app.config["HUGGY_WEBHOOK_TOKEN"] = TOKEN
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.register_blueprint(flask_huggy.blueprint, url_prefix="/hooks/huggy")

    client = app.test_client()
    assert client.post("/hooks/huggy/webhook", json=payload("closedChat")).status_code == 200
    assert client.post("/huggy/webhook", json=payload("closedChat")).status_code == 404


@pytest.mark.config(HUGGY_B_WEBHOOK_TOKEN="token-of-account-b")
def test_a_second_endpoint_reads_its_own_config_prefix(recorder, app, payload) -> None:
    app.register_blueprint(flask_huggy.make_blueprint("huggy_b", url_prefix="/huggy-b", config_prefix="HUGGY_B_"))
    client = app.test_client()

    assert client.post("/huggy-b/webhook", json=payload("closedChat", token="token-of-account-b")).status_code == 200
    assert client.post("/huggy-b/webhook", json=payload("closedChat")).status_code == 403
    assert client.post("/huggy/webhook", json=payload("closedChat")).status_code == 200
    assert len(recorder.events("closedChat")) == 2


def test_validation_is_skipped_for_events_nobody_listens_to(client, app, payload) -> None:
    delivered = []

    @signals.delivery_received.connect_via(app)
    def on_delivery(app, delivery, **extra):
        delivered.append(delivery)

    body = payload("closedChat")
    body["messages"]["closedChat"][0]["id"] = {"impossible": True}

    response = client.post("/huggy/webhook", json=body)

    assert response.get_json() == {"status": "accepted", "events": 1, "invalid": 0, "duplicates": 0}
    event = delivered[0].events[0]
    assert event.errors == {"id": ["Not a valid id: expected an integer or a numeric string."]}  # validated on demand
    assert event.data is event.raw


def test_a_receiver_that_raises_becomes_a_500_so_huggy_retries(make_app, payload, caplog) -> None:
    app = make_app(TESTING=False)

    @signals.closed_chat.connect_via(app)
    def broken(app, **kwargs):
        raise RuntimeError("CRM is down")

    response = app.test_client().post("/huggy/webhook", json=payload("closedChat"))

    assert response.status_code == 500
    assert response.is_json and response.get_json()["error"] == "internal_server_error"
    assert any(
        "closedChat" in r.getMessage() and "RuntimeError" in r.getMessage()
        for r in caplog.records
        if r.name == "flask_huggy"
    )


def test_a_receiver_that_raises_propagates_under_testing(client, app, payload) -> None:
    @signals.closed_chat.connect_via(app)
    def broken(app, **kwargs):
        raise RuntimeError("CRM is down")

    with pytest.raises(RuntimeError, match="CRM is down"):
        client.post("/huggy/webhook", json=payload("closedChat"))


def test_delivery_without_time_is_accepted_with_time_none(client, recorder) -> None:
    response = client.post("/huggy/webhook", json={"token": TOKEN, "messages": {"closedChat": [{"id": 1}]}})

    assert response.status_code == 200
    assert recorder.deliveries()[0].time is None


def test_content_type_is_ignored(client, recorder, payload) -> None:
    import json

    response = client.post("/huggy/webhook", data=json.dumps(payload("closedChat")), content_type="text/plain")

    assert response.status_code == 200
    assert recorder.names()[0] == "closedChat"
