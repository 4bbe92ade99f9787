"""The inbox's receivers store every delivery, whole or not at all, as README's example section says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from example_app import create_app
from example_app.models import Chat, DeliveryRecord, EventRecord, Handshake, db
from example_app.webhook import huggy
from flask_huggy import signals
from flask_huggy.testing import (
    ConfirmationInterceptor,
    build_delivery,
    post_delivery,
    post_handshake,
)

from .conftest import TOKEN, load_payload


@pytest.fixture
def inbox(tmp_path) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "HUGGY_WEBHOOK_TOKEN": TOKEN,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'inbox.sqlite3'}",
        }
    )


@pytest.fixture
def huggy_app(inbox: Flask) -> Flask:
    """flask-huggy's pytest fixtures (post_huggy, huggy_delivery) post to the inbox."""
    return inbox


def stored(app: Flask, model: Any) -> list[Any]:
    with app.app_context():
        rows = list(db.session.scalars(db.select(model).order_by(*model.__table__.primary_key.columns)))
        db.session.expunge_all()
        return rows


def test_a_delivery_is_stored_with_its_events_in_payload_order(inbox, post_huggy) -> None:
    assert post_huggy(load_payload("startedChat+receivedMessage")).status_code == 200

    [delivery] = stored(inbox, DeliveryRecord)
    events = stored(inbox, EventRecord)
    assert delivery.event_count == 2
    assert delivery.sent_at.timestamp() == 1631130946
    assert [(e.position, e.name, e.delivery_id) for e in events] == [
        (0, "startedChat", delivery.id),
        (1, "receivedMessage", delivery.id),
    ]


def test_an_event_keeps_its_chat_contact_body_times_and_raw_json(inbox, post_huggy) -> None:
    payload = load_payload("receivedMessage")
    post_huggy(payload)

    [event] = stored(inbox, EventRecord)
    sent = payload["messages"]["receivedMessage"][0]
    assert (event.chat_id, event.message_id, event.contact_id) == ("2932424", "51917884", "419689")
    assert (event.contact_name, event.sender_type, event.body) == ("Charles", "widget", "teste")
    # send_at "2018-04-19 13:37:34" is São Paulo time (UTC-3): 16:37:34 UTC.
    assert event.happened_at.isoformat() == "2018-04-19T16:37:34+00:00"
    assert event.received_at.tzinfo is not None
    assert json.loads(event.raw) == sent
    assert event.valid and event.errors is None


def test_a_conversation_builds_its_chat(inbox, post_huggy, huggy_delivery) -> None:
    chat_id, maria = 30608118, {"id": 7, "name": "Maria"}
    post_huggy(
        huggy_delivery.event(
            "startedChat", id=chat_id, contact=maria, channel={"id": 1, "name": "WhatsApp Loja", "type": "whatsapp"}
        ),
        huggy_delivery.event(
            "agentEntered", id=chat_id, channel="whatsapp", customer=maria, agent={"id": 40419, "name": "Ana"}
        ),
        huggy_delivery.event(
            "receivedAllMessage",
            body="Oi!",
            sender=maria,
            senderType="whatsapp",
            customer=maria,
            chat={"id": chat_id, "channel": "whatsapp", "customer": maria},
        ),
    )
    post_huggy(
        huggy_delivery.event("closedChat", id=chat_id, channel="whatsapp", tabulation={"id": 1, "name": "Venda"})
    )

    [chat] = stored(inbox, Chat)
    assert (chat.id, chat.contact_name, chat.channel, chat.agent_name) == ("30608118", "Maria", "whatsapp", "Ana")
    assert (chat.last_message, chat.last_sender_type) == ("Oi!", "whatsapp")
    assert (chat.status, chat.tabulation, chat.event_count) == ("closed", "Venda", 4)
    assert chat.closed_at is not None


def test_events_about_no_chat_are_stored_without_one(inbox, post_huggy) -> None:
    post_huggy("agentChangedStatus", "createdCustomer")

    assert [(e.name, e.chat_id) for e in stored(inbox, EventRecord)] == [
        ("agentChangedStatus", None),
        ("createdCustomer", None),
    ]
    assert stored(inbox, Chat) == []


def test_a_delivery_huggy_retries_is_stored_once(inbox, post_huggy) -> None:
    payload = load_payload("closedChat")

    assert post_huggy(payload).status_code == 200
    assert post_huggy(payload).status_code == 200

    assert len(stored(inbox, DeliveryRecord)) == 1
    assert len(stored(inbox, EventRecord)) == 1


def test_an_invalid_event_is_kept_raw_with_its_errors(inbox, post_huggy, huggy_delivery) -> None:
    response = post_huggy(huggy_delivery.event("closedChat", closed_at=["not", "a", "time"]))

    assert response.get_json()["invalid"] == 1
    [event] = stored(inbox, EventRecord)
    assert not event.valid
    assert "closed_at" in json.loads(event.errors)
    assert json.loads(event.raw)["closed_at"] == ["not", "a", "time"]


def test_an_event_flask_huggy_does_not_know_is_kept_raw(inbox, post_huggy) -> None:
    post_huggy(("chatTransferred", {"id": 5, "to": "sales"}))

    [event] = stored(inbox, EventRecord)
    assert (event.name, event.kind, event.valid) == ("chatTransferred", "other", True)
    assert json.loads(event.raw) == {"id": 5, "to": "sales"}


def test_a_confirmed_handshake_is_remembered(inbox) -> None:
    with ConfirmationInterceptor(app=inbox):
        assert post_handshake(inbox.test_client()).status_code == 200

    [handshake] = stored(inbox, Handshake)
    assert handshake.token_hint == "****62e4"
    assert handshake.confirmed is True


@pytest.mark.parametrize(("confirmed", "shown"), [(True, "accepted"), (False, "failed"), (None, "switched off")])
def test_each_handshake_keeps_how_the_confirmation_request_went(inbox, confirmed, shown) -> None:
    error = {"error": "huggy_unreachable", "message": "Huggy could not be reached."}
    huggy.endpoint(inbox).last_handshake_error = error if confirmed is False else None

    with inbox.app_context():  # flask-huggy sends it inside one, after answering the handshake
        signals.token_validated.send(inbox, token=TOKEN, confirmed=confirmed)

    [handshake] = stored(inbox, Handshake)
    assert (handshake.confirmed, handshake.confirmation) == (confirmed, shown)
    assert handshake.confirm_error == ("huggy_unreachable: Huggy could not be reached." if confirmed is False else None)


def test_a_chat_is_what_its_newest_event_in_huggys_time_says_not_the_last_to_arrive(inbox, post_huggy) -> None:
    assert post_huggy(load_payload("closedChat")).status_code == 200  # 17:21:10, Huggy's time
    assert post_huggy(load_payload("agentEntered")).status_code == 200  # 17:11:54: older, arrives later

    [chat] = stored(inbox, Chat)
    assert (chat.closed, chat.situation) == (True, "finishing")
    assert chat.agent_name == "John Doe" and chat.contact_name == "Charles Edward"  # still learnt from it
    assert chat.latest_at.isoformat() == "2020-03-05T20:21:10+00:00"


def test_a_newer_event_reopens_a_chat_and_an_older_one_does_not(inbox, post_huggy) -> None:
    closed = load_payload("closedChat")
    entered = load_payload("agentEntered")
    entered["time"] = closed["time"] + 60  # after the close: the agent took it again

    post_huggy(closed)
    post_huggy(entered)

    [chat] = stored(inbox, Chat)
    assert (chat.closed, chat.situation, chat.tabulation) == (False, "in_chat", None)


def test_an_older_database_gets_the_new_columns(tmp_path) -> None:
    path = tmp_path / "old.sqlite3"
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        db.session.execute(text("ALTER TABLE inbox_chats DROP COLUMN latest_at"))
        db.session.execute(text("ALTER TABLE inbox_handshakes DROP COLUMN confirmed"))
        db.session.commit()
        db.engine.dispose()

    again = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "HUGGY_WEBHOOK_TOKEN": TOKEN})

    assert post_delivery(again.test_client(), load_payload("closedChat")).status_code == 200
    [chat] = stored(again, Chat)
    assert chat.latest_at is not None


@pytest.fixture
def failing_closed_chat_receiver(inbox: Flask) -> Iterator[None]:
    """A receiver of the user's own, next to the inbox's, that fails on closedChat."""

    def fail(sender: Flask, **extra: Any) -> None:
        raise RuntimeError("the CRM is down")

    signals.closed_chat.connect(fail, sender=inbox)
    yield
    signals.closed_chat.disconnect(fail, sender=inbox)


def test_a_receiver_that_raises_leaves_nothing_of_the_delivery(inbox, post_huggy, failing_closed_chat_receiver) -> None:
    post_huggy("agentChangedStatus")

    with pytest.raises(RuntimeError, match="CRM is down"):  # under TESTING, Flask lets it through
        post_huggy("startedChat", "receivedMessage", "closedChat")

    assert [e.name for e in stored(inbox, EventRecord)] == ["agentChangedStatus"]
    assert stored(inbox, Chat) == []
    assert len(stored(inbox, DeliveryRecord)) == 1


def test_a_database_failure_while_storing_rolls_the_whole_delivery_back(inbox, post_huggy) -> None:
    with inbox.app_context():
        # The chats table vanishing makes the write fail after the events were added.
        db.session.execute(text("DROP TABLE inbox_chats"))
        db.session.commit()

    with pytest.raises(Exception, match="inbox_chats"):
        post_huggy("startedChat", "receivedMessage")

    assert stored(inbox, EventRecord) == []
    assert stored(inbox, DeliveryRecord) == []


def test_each_event_is_still_logged(inbox, post_huggy, caplog) -> None:
    caplog.set_level("INFO", logger="example_app")

    post_huggy("closedChat")

    assert any(r.getMessage().startswith("closedChat chat=") for r in caplog.records if r.name == "example_app")


def test_with_huggy_dedup_on_a_delivery_retried_after_a_failure_is_stored_whole_once(tmp_path) -> None:
    inbox = create_app(
        {
            "TESTING": True,
            "HUGGY_WEBHOOK_TOKEN": TOKEN,
            "HUGGY_DEDUP": "memory",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'inbox.sqlite3'}",
        }
    )
    failures = [RuntimeError("the CRM is down")]

    def fail_once(sender: Flask, **extra: Any) -> None:
        if failures:
            raise failures.pop()

    signals.closed_chat.connect(fail_once, sender=inbox)
    delivery = build_delivery("startedChat", "receivedMessage", "closedChat", token=TOKEN)
    with pytest.raises(RuntimeError):
        post_delivery(inbox.test_client(), delivery)

    retry = post_delivery(inbox.test_client(), delivery)

    # flask-huggy skips the two events handled the first time; the inbox, which
    # stores from delivery_received, still stores the whole delivery, once.
    assert retry.get_json()["duplicates"] == 2
    assert [e.name for e in stored(inbox, EventRecord)] == ["startedChat", "receivedMessage", "closedChat"]
    signals.closed_chat.disconnect(fail_once, sender=inbox)
