"""The quick start's tests, written with the fixtures of flask-huggy's pytest plugin."""

from __future__ import annotations

import requests
from flask import Flask

from flask_huggy.pytest_plugin import DeliveryBuilder, HuggyPoster
from flask_huggy.testing import ConfirmationInterceptor, FakeHuggyAPI, SignalRecorder


def test_a_closed_chat_is_archived(app: Flask, post_huggy: HuggyPoster, huggy_delivery: DeliveryBuilder) -> None:
    response = post_huggy(huggy_delivery.event("closedChat", id=30608118))

    assert response.status_code == 200
    assert app.extensions["closed_chats"] == [30608118]


def test_a_waiting_customer_gets_a_reply(
    post_huggy: HuggyPoster, huggy_delivery: DeliveryBuilder, huggy_api: FakeHuggyAPI
) -> None:
    chat = huggy_api.add_chat(situation="wait_for_chat")
    post_huggy(huggy_delivery.event("receivedMessage", chat_id=int(chat["id"])))

    assert [m["text"] for m in huggy_api.messages_of(chat["id"])] == ["Recebido! Um agente já vai te atender."]


def test_one_conversation_fires_in_order(
    post_huggy: HuggyPoster, huggy_delivery: DeliveryBuilder, huggy_signals: SignalRecorder, huggy_api: FakeHuggyAPI
) -> None:
    chat = int(huggy_api.add_chat()["id"])  # the message's reply goes there
    post_huggy(*(huggy_delivery.event(name, chat_id=chat) for name in ("startedChat", "receivedMessage", "closedChat")))

    assert [e.name for e in huggy_signals.events("event_received")] == [
        "startedChat",
        "receivedMessage",
        "closedChat",
    ]
    started, message, closed = huggy_signals.events()
    assert started.data["id"] == message.data["chat"]["id"] == closed.data["id"]


def test_a_wrong_token_is_refused(post_huggy: HuggyPoster, huggy_signals: SignalRecorder) -> None:
    assert post_huggy("closedChat", token="not-the-token").status_code == 403
    assert huggy_signals.names() == ["huggy.delivery_refused"]  # no event fired


def test_the_handshake_prints_the_token(post_huggy: HuggyPoster, huggy_confirm: ConfirmationInterceptor) -> None:
    assert post_huggy.handshake().get_data(as_text=True) == "test-token"
    assert huggy_confirm.tokens == ["test-token"]  # then confirmed to Huggy


def test_huggy_timing_out_changes_nothing_huggy_sees(
    post_huggy: HuggyPoster, huggy_confirm: ConfirmationInterceptor, huggy_signals: SignalRecorder
) -> None:
    huggy_confirm.fail(requests.ReadTimeout)

    assert post_huggy.handshake().get_data(as_text=True) == "test-token"
    assert huggy_signals.calls_to("token_validated")[0].kwargs["confirmed"] is False
