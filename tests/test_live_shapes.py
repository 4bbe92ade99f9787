"""What live Huggy sends beyond its docs is accepted, fires, and reads well.

Every shape here is one listed in ``../shared/huggy-in-the-wild.md``: fields and
names read by receivers that run against the live service (2018-2026), applied to
the docs' own samples. None is refused, in lenient or in strict mode, and the
typed objects carry their values.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_huggy import signals
from flask_huggy.catalog import EVENT_ALIASES, EVENT_MODELS, EVENTS, documented_name, sample_event
from flask_huggy.cli import cli
from flask_huggy.models import (
    AgentEntered,
    AnsweredChatForm,
    AutomationFlow,
    Channel,
    ClosedChat,
    CreatedChat,
    CreatedCustomer,
    FormAnswer,
    FormQuestion,
    Message,
    NamedRef,
    ReceivedAllMessage,
    SendedAllMessage,
    StartedWidgetAttendance,
)
from flask_huggy.schemas import EVENT_SCHEMAS
from flask_huggy.testing import SignalRecorder, build_delivery, build_event, post_delivery

from .conftest import TOKEN, create_app, load_payload

WEBHOOK = "/huggy/webhook"
RawDelivery = dict[str, Any]


def one_event(sample: str, name: str | None = None, **changes: Any) -> RawDelivery:
    """The docs' sample ``sample`` with its first event's top-level keys changed, sent as ``name``."""
    delivery = load_payload(sample)
    ((documented, items),) = delivery["messages"].items()
    event = {**items[0], **changes}
    delivery["messages"] = {name or documented: [event]}
    return delivery


def message(sample: str, name: str | None = None, *, chat: dict[str, Any], **changes: Any) -> RawDelivery:
    """A message sample with top-level ``changes`` and its ``chat`` updated with ``chat``."""
    delivery = one_event(sample, name, **changes)
    (event,) = next(iter(delivery["messages"].values()))
    event["chat"] = {**event["chat"], **chat}
    return delivery


def sent_as_alias() -> RawDelivery:
    """The docs' sendedAllMessage sample under the name live receivers read."""
    return one_event("sendedAllMessage", "sentAllMessage")


def whatsapp_customer_message() -> RawDelivery:
    """A WhatsApp customer's message to an agent, with the business number it reached."""
    return message(
        "receivedAllMessage",
        senderType="whatsapp-enterprise",
        receiverType="agent",
        chat={"entrypoint": "5521992138359"},
    )


def flow_with_free_text_token() -> RawDelivery:
    delivery = load_payload("startedAutomationFlow+finishedAutomationFlow-2")
    for items in delivery["messages"].values():
        items[0]["flowToken"] = "TRANSFER_CRM_SEGUNDA_VIA"
    return delivery


def legacy_unknown_events() -> RawDelivery:
    # The keys a 2018 PHP receiver reads from updatedLeadByAgent and updatedLeadByLead
    # (id, channel, situation, department, company.id). No sample of updatedChatDepartment
    # is public: it gets the same chat shape, which only its name has to carry here.
    chat = {"id": 30608118, "channel": "email", "situation": "in_chat", "department": 11445, "company": {"id": "15691"}}
    names = ("updatedLeadByAgent", "updatedLeadByLead", "updatedChatDepartment")
    return {"time": 1583439114, "messages": {name: [dict(chat)] for name in names}, "token": TOKEN}


def answered_chat_form() -> RawDelivery:
    return one_event_from_template(
        "answeredChatForm",
        answers=[
            {"question": {"type": "text", "fieldName": "CPF"}, "text": "12345678909"},
            {"question": {"type": "email", "fieldName": "E-mail"}, "text": "edward@teste.com"},
        ],
    )


def one_event_from_template(name: str, **changes: Any) -> RawDelivery:
    """An event built from the library's template (for events the docs give no sample of)."""
    event = sample_event(name) | changes
    return {"time": 1583439114, "messages": {name: [event]}, "token": TOKEN}


def customer_with_channel() -> RawDelivery:
    return one_event(
        "createdCustomer",
        channel={"name": "WhatsApp", "source": "whatsapp"},
        custom_fields={"cpf_customer": "12345678909"},
        city="Feira de Santana",
        state="BA",
        birthDate="1990-05-12",
    )


#: Each live shape, as the delivery that carries it.
LIVE_SHAPES: dict[str, Callable[[], RawDelivery]] = {
    "sentAllMessage": sent_as_alias,
    "senderType whatsapp-enterprise, chat.entrypoint": whatsapp_customer_message,
    "chat.entrypoint null": lambda: message("receivedAllMessage", chat={"entrypoint": None}),
    "chat.entrypoint as a number": lambda: message("sendedAllMessage", chat={"entrypoint": 5521992138359}),
    "closedChat tabulation {id, name}, closed 1": lambda: one_event(
        "closedChat", tabulation={"id": 7, "name": "Venda realizada"}, closed=1
    ),
    "closedChat closed 0": lambda: one_event("closedChat", closed=0),
    "flowToken as free text": flow_with_free_text_token,
    "createdChat with workflowID": lambda: one_event(
        "startedChat", "createdChat", workflowID=3212, workflowStepID="8721"
    ),
    "agentEntered with workflowID": lambda: one_event("agentEntered", workflowID="3212", workflowStepID=8721),
    "legacy unknown events": legacy_unknown_events,
    "answeredChatForm answers": answered_chat_form,
    "createdCustomer channel, cpf_customer, city, state, birthDate": customer_with_channel,
    "startedWidgetAttendance channel": lambda: one_event(
        "startedWidgetAttendance", channel={"name": "Huggy Chat", "source": "widget"}
    ),
    "ids beyond 32 bits": lambda: one_event("sendedAllMessage", "sentAllMessage", id=7789182889),
    "ids as strings": lambda: one_event("closedChat", id="3212"),
}


def post(client: FlaskClient, delivery: RawDelivery) -> Any:
    response = client.post(WEBHOOK, json=delivery)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def typed(recorder: SignalRecorder, signal: str, index: int = 0) -> Any:
    return recorder.events(signal)[index].obj


# -- Every shape is valid, lenient or strict ------------------------------------------


@pytest.mark.parametrize(
    "strict",
    [
        pytest.param(False, marks=pytest.mark.config(HUGGY_STRICT=False), id="lenient"),
        pytest.param(True, marks=pytest.mark.config(HUGGY_STRICT=True), id="strict"),
    ],
)
@pytest.mark.parametrize("shape", list(LIVE_SHAPES))
def test_each_live_shape_is_accepted_and_valid(
    app: Flask, client: FlaskClient, recorder: SignalRecorder, shape: str, strict: bool
) -> None:
    delivery = LIVE_SHAPES[shape]()
    sent = [name for name, items in delivery["messages"].items() for _ in items]

    answer = post(client, delivery)

    assert answer == {"status": "accepted", "events": len(sent), "invalid": 0, "duplicates": 0}
    assert recorder.calls_to("huggy.invalid_event") == []
    received = recorder.events("huggy.event_received")
    assert [event.name for event in received] == sent
    for event in received:
        assert event.errors is None
        assert (event.obj is None) == (event.name not in EVENT_SCHEMAS)


# -- sentAllMessage is sendedAllMessage -----------------------------------------------


def test_sent_all_message_fires_sended_all_message_with_the_same_typed_object(
    client: FlaskClient, recorder: SignalRecorder
) -> None:
    post(client, sent_as_alias())
    post(client, load_payload("sendedAllMessage"))

    assert recorder.names() == ["sendedAllMessage", "huggy.event_received", "huggy.delivery_received"] * 2
    alias, documented = recorder.events("sendedAllMessage")
    assert (alias.name, documented.name) == ("sentAllMessage", "sendedAllMessage")
    assert type(alias.obj) is SendedAllMessage
    assert alias.obj == documented.obj
    assert alias.data == documented.data


def test_the_alias_is_one_signal_reachable_under_both_names() -> None:
    assert signals.sent_all_message is signals.sended_all_message
    assert signals.EVENT_SIGNALS["sentAllMessage"] is signals.EVENT_SIGNALS["sendedAllMessage"]
    assert signals.EVENT_SIGNALS["sentAllMessage"] is signals.sended_all_message
    assert "sentAllMessage" not in signals.huggy_signals  # no second blinker signal
    assert signals.sended_all_message.name == "sendedAllMessage"


def test_a_receiver_connected_under_either_name_hears_both(app: Flask, client: FlaskClient) -> None:
    heard = []

    @signals.sent_all_message.connect_via(app)
    def on_sent(app: Flask, event: Any, **extra: Any) -> None:
        heard.append(event.name)

    delivery = load_payload("sendedAllMessage")
    delivery["messages"]["sentAllMessage"] = copy.deepcopy(delivery["messages"]["sendedAllMessage"])
    post(client, delivery)

    assert heard == ["sendedAllMessage", "sentAllMessage"]


def test_every_table_keyed_by_event_gives_the_alias_its_events_entry() -> None:
    for alias, name in EVENT_ALIASES.items():
        assert documented_name(alias) == name
        assert EVENT_SCHEMAS[alias] is EVENT_SCHEMAS[name]
        assert EVENT_MODELS[alias] is EVENT_MODELS[name]
        assert EVENTS[alias] is EVENTS[name]
        assert list(signals.EVENT_SIGNALS).index(alias) == list(signals.EVENT_SIGNALS).index(name) + 1


def test_an_invalid_sent_all_message_is_refused_in_strict_mode_under_its_own_name() -> None:
    app = create_app(HUGGY_STRICT=True)
    delivery = one_event("sendedAllMessage", "sentAllMessage", send_at="not a date")

    response = app.test_client().post(WEBHOOK, json=delivery)

    assert response.status_code == 422
    assert response.get_json()["error"] == "invalid_event"
    assert response.get_json()["event"] == "sentAllMessage"


def test_build_event_and_build_delivery_file_the_alias_under_its_own_name(client: FlaskClient) -> None:
    event = build_event("sentAllMessage", body="Oi!")
    delivery = build_delivery(event, "receivedAllMessage", token=TOKEN)

    assert event.name == "sentAllMessage"
    assert list(delivery["messages"]) == ["sentAllMessage", "receivedAllMessage"]
    with SignalRecorder() as recorded:
        assert post_delivery(client, delivery).status_code == 200
    (sent,) = recorded.events("sentAllMessage")  # the recorder knows the alias
    assert sent.name == "sentAllMessage" and isinstance(sent.obj, SendedAllMessage)
    assert sent.obj.body == "Oi!"


def test_flask_huggy_events_lists_the_alias_with_its_events_signal(app: Flask) -> None:
    result = app.test_cli_runner().invoke(cli, ["events"])

    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines() if line.strip()}
    assert rows["sentAllMessage"][1] == rows["sendedAllMessage"][1] == "signals.sended_all_message"


def test_flask_huggy_simulate_sends_the_alias(app: Flask, recorder: SignalRecorder) -> None:
    result = app.test_cli_runner().invoke(cli, ["simulate", "sentAllMessage"])

    assert result.exit_code == 0, result.output
    (event,) = recorder.events("sendedAllMessage")
    assert event.name == "sentAllMessage"
    assert event.errors is None


# -- The typed objects carry the live values -------------------------------------------


def test_a_whatsapp_customers_message_has_its_types_and_the_business_number(
    client: FlaskClient, recorder: SignalRecorder
) -> None:
    post(client, whatsapp_customer_message())

    message = typed(recorder, "receivedAllMessage")
    assert isinstance(message, ReceivedAllMessage)
    assert (message.sender_type, message.receiver_type) == ("whatsapp-enterprise", "agent")
    assert message.chat is not None and message.chat.entrypoint == "5521992138359"
    assert message.chat.extra == {}


def test_chat_entrypoint_is_a_string_or_none(client: FlaskClient, recorder: SignalRecorder) -> None:
    post(client, LIVE_SHAPES["chat.entrypoint as a number"]())
    post(client, LIVE_SHAPES["chat.entrypoint null"]())

    as_number: Message = typed(recorder, "sendedAllMessage")
    null: Message = typed(recorder, "receivedAllMessage")
    assert as_number.chat is not None and as_number.chat.entrypoint == "5521992138359"
    assert null.chat is not None and null.chat.entrypoint is None


def test_a_tabulation_object_and_closed_as_0_or_1(client: FlaskClient, recorder: SignalRecorder) -> None:
    post(client, LIVE_SHAPES["closedChat tabulation {id, name}, closed 1"]())
    post(client, LIVE_SHAPES["closedChat closed 0"]())

    with_tabulation, without = typed(recorder, "closedChat"), typed(recorder, "closedChat", 1)
    assert isinstance(with_tabulation, ClosedChat) and isinstance(without, ClosedChat)
    assert with_tabulation.tabulation == NamedRef(id=7, name="Venda realizada")
    assert (with_tabulation.closed, without.closed) == (True, False)
    assert without.tabulation is None  # the docs' false


def test_a_free_text_flow_token_and_a_date_string_in_the_context_are_kept_as_sent(
    client: FlaskClient, recorder: SignalRecorder
) -> None:
    post(client, flow_with_free_text_token())

    flow = typed(recorder, "startedAutomationFlow")
    assert isinstance(flow, AutomationFlow)
    assert flow.flow_token == "TRANSFER_CRM_SEGUNDA_VIA"
    assert flow.context is not None and flow.context["SYSTEM.CHAT_CREATED_DATE"] == "2024-02-29 22:21:47"


def test_workflow_ids_at_the_top_of_created_chat_and_agent_entered(
    client: FlaskClient, recorder: SignalRecorder
) -> None:
    post(client, LIVE_SHAPES["createdChat with workflowID"]())
    post(client, LIVE_SHAPES["agentEntered with workflowID"]())

    created, entered = typed(recorder, "createdChat"), typed(recorder, "agentEntered")
    assert isinstance(created, CreatedChat) and isinstance(entered, AgentEntered)
    assert (created.workflow_id, created.workflow_step_id) == (3212, 8721)
    assert (entered.workflow_id, entered.workflow_step_id) == (3212, 8721)
    assert created.extra == entered.extra == {}


def test_legacy_events_without_a_schema_are_delivered_raw_and_never_dropped(
    client: FlaskClient, recorder: SignalRecorder
) -> None:
    delivery = legacy_unknown_events()

    post(client, delivery)

    received = recorder.events("huggy.event_received")
    assert [event.name for event in received] == ["updatedLeadByAgent", "updatedLeadByLead", "updatedChatDepartment"]
    for event in received:
        assert not event.known and event.obj is None
        assert event.data == event.raw == delivery["messages"][event.name][0]


def test_answered_chat_form_answers_are_typed(client: FlaskClient, recorder: SignalRecorder) -> None:
    post(client, answered_chat_form())

    form = typed(recorder, "answeredChatForm")
    assert isinstance(form, AnsweredChatForm)
    assert form.answers == (
        FormAnswer(question=FormQuestion(type="text", field_name="CPF"), text="12345678909"),
        FormAnswer(question=FormQuestion(type="email", field_name="E-mail"), text="edward@teste.com"),
    )


def test_a_created_customer_with_its_channel_custom_fields_and_address(
    client: FlaskClient, recorder: SignalRecorder
) -> None:
    post(client, customer_with_channel())

    customer = typed(recorder, "createdCustomer")
    assert isinstance(customer, CreatedCustomer)
    assert customer.channel == Channel(name="WhatsApp", source="whatsapp")
    assert customer.custom_fields == {"cpf_customer": "12345678909"}
    assert (customer.city, customer.state, customer.birth_date) == ("Feira de Santana", "BA", "1990-05-12")
    assert customer.extra == {}


def test_a_widget_attendance_with_its_channel(client: FlaskClient, recorder: SignalRecorder) -> None:
    post(client, LIVE_SHAPES["startedWidgetAttendance channel"]())

    attendance = typed(recorder, "startedWidgetAttendance")
    assert isinstance(attendance, StartedWidgetAttendance)
    assert attendance.channel == Channel(name="Huggy Chat", source="widget")


def test_ids_beyond_32_bits_and_ids_as_strings_become_ints(client: FlaskClient, recorder: SignalRecorder) -> None:
    post(client, LIVE_SHAPES["ids beyond 32 bits"]())
    post(client, LIVE_SHAPES["ids as strings"]())

    message, chat = typed(recorder, "sendedAllMessage"), typed(recorder, "closedChat")
    assert message.id == 7789182889
    assert chat.id == 3212


@pytest.mark.parametrize("dedup", [False, "memory"], ids=["no-dedup", "dedup"])
def test_one_message_id_received_and_sent_in_one_delivery_fires_both(dedup: Any) -> None:
    app = create_app(HUGGY_DEDUP=dedup)
    received = load_payload("receivedAllMessage")["messages"]["receivedAllMessage"][0]
    sent = {**load_payload("sendedAllMessage")["messages"]["sendedAllMessage"][0], "id": received["id"]}
    delivery = {
        "time": 1562879079,
        "messages": {"receivedAllMessage": [received], "sentAllMessage": [sent]},
        "token": TOKEN,
    }
    with SignalRecorder(app) as recorded:
        response = app.test_client().post(WEBHOOK, json=delivery)

    assert response.get_json() == {"status": "accepted", "events": 2, "invalid": 0, "duplicates": 0}
    assert [e.name for e in recorded.events()] == ["receivedAllMessage", "sentAllMessage"]
    (as_received,), (as_sent,) = recorded.events("receivedAllMessage"), recorded.events("sentAllMessage")
    assert as_received.obj.id == as_sent.obj.id == 423747203
    assert as_sent.data["send_at"] == datetime(2019, 7, 16, 12, 20, 11, tzinfo=timezone.utc)
