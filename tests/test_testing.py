"""flask_huggy.testing: deliveries built from Huggy's docs are what Huggy sends, and the app takes them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone

import pytest
import requests
import responses
from flask import Flask
from requests.adapters import HTTPAdapter

import flask_huggy
from flask_huggy import signals
from flask_huggy.catalog import EVENTS, sample_event
from flask_huggy.config import DEFAULT_CONFIRM_URL
from flask_huggy.endpoint import get_endpoint
from flask_huggy.handshake import CONFIRM_RETRIES
from flask_huggy.schemas import DEPRECATED_EVENTS
from flask_huggy.signals import EVENT_SIGNALS
from flask_huggy.testing import (
    SAMPLE_TOKEN,
    ConfirmationInterceptor,
    HuggyEvent,
    SignalRecorder,
    build_delivery,
    build_event,
    post_delivery,
    post_handshake,
    set_field,
)

from .conftest import TOKEN, create_app, load_payload

# 2020-03-05 20:21:11 UTC, the time of the docs' closedChat sample (17:21:11 in São Paulo).
DOCS_CLOSED_CHAT_TIME = datetime(2020, 3, 5, 20, 21, 11, tzinfo=timezone.utc)

SAMPLES_FROM_THE_DOCS = [name for name, spec in EVENTS.items() if not spec.sample.source.startswith("(")]


# --- The samples ------------------------------------------------------------------------


def test_every_event_the_library_knows_has_a_sample() -> None:
    assert list(EVENTS) == list(EVENT_SIGNALS)


def test_the_deprecated_samples_are_the_events_huggy_deprecates() -> None:
    assert {name for name, spec in EVENTS.items() if spec.deprecated} == DEPRECATED_EVENTS


@pytest.mark.parametrize("name", SAMPLES_FROM_THE_DOCS)
def test_each_sample_is_the_event_object_of_its_docs_sample(name: str) -> None:
    spec = EVENTS[name]
    messages = load_payload(spec.sample.source)["messages"]
    # createdChat has no sample of its own: Huggy says startedChat replaced it.
    # An alias (sentAllMessage) has its event's template, named like the docs.
    documented = messages["startedChat" if name == "createdChat" else spec.name][0]

    assert sample_event(name) == documented


@pytest.mark.parametrize("name", list(EVENTS))
def test_a_built_event_of_every_kind_is_accepted_and_valid(client, recorder: SignalRecorder, name: str) -> None:
    response = post_delivery(client, build_event(name))

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "accepted", "events": 1, "invalid": 0, "duplicates": 0}
    (event,) = recorder.events(EVENT_SIGNALS[name].name)  # an alias fires its event's signal
    assert event.name == name
    assert event.errors is None


# --- build_event ------------------------------------------------------------------------


def test_a_built_event_is_a_plain_dict_that_knows_its_name() -> None:
    event = build_event("closedChat")

    assert isinstance(event, dict) and isinstance(event, HuggyEvent)
    assert event.name == "closedChat"
    assert json.loads(json.dumps(event)) == event
    assert set(event) == set(sample_event("closedChat"))


def test_two_built_events_get_different_fresh_ids() -> None:
    first, second = build_event("receivedMessage"), build_event("receivedMessage")

    assert first["id"] != second["id"]
    assert first["chat"]["id"] != second["chat"]["id"]
    assert first["id"] != load_payload("receivedMessage")["messages"]["receivedMessage"][0]["id"]


def test_fresh_ids_keep_the_type_huggy_sends() -> None:
    message, chat = build_event("receivedMessage"), build_event("closedChat")

    assert isinstance(message["id"], str) and message["id"].isdigit()  # "51917884" in the docs
    assert isinstance(message["chat"]["id"], int)
    assert isinstance(chat["id"], int)


def test_chat_id_ties_an_event_to_a_chat_wherever_the_event_keeps_it() -> None:
    assert build_event("closedChat", chat_id=5)["id"] == 5
    assert build_event("receivedMessage", chat_id=5)["chat"]["id"] == 5
    flow = build_event("startedAutomationFlow", chat_id=5)
    assert flow["chatID"] == 5
    assert flow["context"]["SYSTEM.CHAT_ID"] == 5


def test_keyword_fields_replace_fields_and_dotted_names_reach_inside() -> None:
    event = build_event("receivedMessage", body="Oi", receiver=None, **{"sender.name": "Maria"})

    assert event["body"] == "Oi"
    assert event["receiver"] is None
    assert event["sender"]["name"] == "Maria"
    assert event["sender"]["email"] == "charles@teste.com"


def test_local_timestamps_say_the_build_time_in_sao_paulo() -> None:
    event = build_event("closedChat", at=DOCS_CLOSED_CHAT_TIME)

    assert event["closed_at"] == "2020-03-05 17:21:11"


def test_a_naive_datetime_is_refused_as_ambiguous() -> None:
    with pytest.raises(ValueError, match="aware"):
        build_event("closedChat", at=datetime(2020, 3, 5, 20, 21, 11))


def test_an_unknown_event_name_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="closedChat"):
        build_event("closedChats")


# --- set_field ----------------------------------------------------------------------------


def test_a_dotted_path_matches_huggys_own_dotted_keys_first() -> None:
    flow = build_event("finishedAutomationFlow")

    set_field(flow, "context.SYSTEM.CHAT_ID", 9)
    set_field(flow, "context.huggy.chat.agent.id", 40419)

    assert flow["context"]["SYSTEM.CHAT_ID"] == 9
    assert flow["context"]["huggy.chat.agent.id"] == 40419
    assert "SYSTEM" not in flow["context"] and "huggy" not in flow["context"]


def test_set_field_fills_an_object_huggy_sent_as_false() -> None:
    chat = build_event("closedChat")  # "tabulation": false

    set_field(chat, "tabulation.name", "Venda")

    assert chat["tabulation"] == {"name": "Venda"}


def test_set_field_indexes_lists_with_numbers() -> None:
    customer = build_event("createdCustomer")

    set_field(customer, "organizations.0.name", "Huggy")

    assert customer["organizations"] == [{"id": 16146, "name": "Huggy"}]


def test_set_field_refuses_to_reach_into_a_text() -> None:
    message = build_event("receivedMessage")  # "channel": "widget"

    with pytest.raises(ValueError, match="channel"):
        set_field(message, "channel.id", 1)


# --- build_delivery -------------------------------------------------------------------------


def test_a_delivery_is_shaped_like_huggys() -> None:
    delivery = build_delivery(build_event("closedChat"), token="t" * 32, time=1583439671)

    assert list(delivery) == ["time", "messages", "token"]
    assert delivery["time"] == 1583439671
    assert delivery["token"] == "t" * 32
    assert list(delivery["messages"]) == ["closedChat"]
    assert type(delivery["messages"]["closedChat"][0]) is dict


def test_events_of_one_name_share_one_list_like_huggys() -> None:
    delivery = build_delivery("receivedMessage", "closedChat", "receivedMessage")

    assert list(delivery["messages"]) == ["receivedMessage", "closedChat"]
    assert len(delivery["messages"]["receivedMessage"]) == 2


def test_events_given_by_name_share_one_chat_and_one_customer() -> None:
    messages = build_delivery("startedChat", "receivedMessage", "closedChat")["messages"]
    started, message, closed = messages["startedChat"][0], messages["receivedMessage"][0], messages["closedChat"][0]

    assert started["id"] == message["chat"]["id"] == closed["id"]
    assert started["contact"]["id"] == message["customer"]["id"] == message["sender"]["id"]


def test_a_name_and_object_pair_is_sent_as_given() -> None:
    delivery = build_delivery(("chatTransferred", {"id": "7", "to": {"id": 1}}))

    assert delivery["messages"] == {"chatTransferred": [{"id": "7", "to": {"id": 1}}]}


def test_timestamps_follow_the_delivery_time_in_the_given_timezone() -> None:
    event = build_event("receivedMessage")

    in_sao_paulo = build_delivery(event, time=DOCS_CLOSED_CHAT_TIME)
    in_manaus = build_delivery(event, time=DOCS_CLOSED_CHAT_TIME, timezone="America/Manaus")

    assert in_sao_paulo["time"] == 1583439671
    assert in_sao_paulo["messages"]["receivedMessage"][0]["send_at"] == "2020-03-05 17:21:11"
    assert in_manaus["messages"]["receivedMessage"][0]["send_at"] == "2020-03-05 16:21:11"


def test_a_timestamp_the_caller_set_is_kept() -> None:
    given = build_event("closedChat", closed_at="2020-01-01 08:00:00")
    changed = build_event("receivedMessage")
    changed["send_at"] = "2020-01-01 09:00:00"

    messages = build_delivery(given, changed, time=DOCS_CLOSED_CHAT_TIME)["messages"]

    assert messages["closedChat"][0]["closed_at"] == "2020-01-01 08:00:00"
    assert messages["receivedMessage"][0]["send_at"] == "2020-01-01 09:00:00"


def test_building_a_delivery_leaves_the_events_given_unchanged() -> None:
    event = build_event("closedChat", at=0)
    before = json.dumps(event)

    delivery = build_delivery(event, time=DOCS_CLOSED_CHAT_TIME)
    delivery["messages"]["closedChat"][0]["company"]["id"] = "changed"

    assert json.dumps(event) == before


def test_a_plain_dict_without_a_name_is_refused() -> None:
    with pytest.raises(TypeError, match="name"):
        build_delivery({"id": 1})  # type: ignore[arg-type]


def test_the_library_reads_the_built_timestamps_back_as_the_delivery_time(client, recorder: SignalRecorder) -> None:
    post_delivery(client, build_event("closedChat"), time=DOCS_CLOSED_CHAT_TIME)

    (event,) = recorder.events("closedChat")
    assert event.data["closed_at"] == DOCS_CLOSED_CHAT_TIME
    assert recorder.deliveries()[0].time == DOCS_CLOSED_CHAT_TIME


# --- post_delivery / post_handshake -------------------------------------------------------------


def test_post_delivery_signs_with_the_apps_token(client, recorder: SignalRecorder) -> None:
    response = post_delivery(client, "closedChat")

    assert response.status_code == 200
    assert recorder.deliveries()[0].token == TOKEN


def test_a_ready_delivery_without_token_is_posted_with_the_apps_token(client, recorder: SignalRecorder) -> None:
    delivery = build_delivery("closedChat", token=None)  # what `flask huggy simulate --print` writes
    assert "token" not in delivery

    response = post_delivery(client, delivery)

    assert response.status_code == 200
    assert recorder.deliveries()[0].token == TOKEN


def test_a_delivery_without_token_is_refused_by_the_app(client, recorder: SignalRecorder) -> None:
    response = client.post("/huggy/webhook", json=build_delivery("closedChat", token=None))

    assert response.status_code == 403
    assert response.get_json()["error"] == "missing_token"
    assert recorder.names() == ["huggy.delivery_refused"]  # and nothing else


def test_the_sample_token_is_refused_by_an_app_with_its_own_token(client) -> None:
    response = post_delivery(client, "closedChat", token=SAMPLE_TOKEN)

    assert response.status_code == 403


def test_a_ready_delivery_is_posted_unchanged(client, recorder: SignalRecorder) -> None:
    body = load_payload("startedChat+receivedMessage")

    post_delivery(client, body)

    assert recorder.deliveries()[0].raw == body
    assert [e.name for e in recorder.events("huggy.event_received")] == ["startedChat", "receivedMessage"]


def test_post_delivery_finds_the_webhook_wherever_the_blueprint_is_mounted() -> None:
    app = Flask(__name__)
    app.config.update(TESTING=True, HUGGY_WEBHOOK_TOKEN=TOKEN)
    app.register_blueprint(flask_huggy.blueprint, url_prefix="/hooks/huggy")

    response = post_delivery(app.test_client(), "closedChat")

    assert response.status_code == 200
    assert response.request.path == "/hooks/huggy/webhook"


def test_posting_keeps_huggys_key_order_which_is_the_firing_order(recorder: SignalRecorder, client) -> None:
    client.application.json.sort_keys = True  # type: ignore[attr-defined]

    post_delivery(client, "startedChat", "closedChat", "agentEntered")

    assert [e.name for e in recorder.events("huggy.event_received")] == ["startedChat", "closedChat", "agentEntered"]


# --- ConfirmationInterceptor ----------------------------------------------------------------------


@pytest.fixture
def fake_huggy() -> Callable[[Flask], ConfirmationInterceptor]:
    """An interceptor for an app (its endpoints' session)."""
    return lambda app: ConfirmationInterceptor(app=app)


def test_the_interceptor_answers_the_confirmation_in_huggys_place(make_app, fake_huggy) -> None:
    app = make_app(HUGGY_WEBHOOK_TOKEN="380c4e7399999999999999999999d354")

    with fake_huggy(app) as huggy:
        response = post_handshake(app.test_client())

    assert response.status_code == 200
    assert response.get_data(as_text=True) == "380c4e7399999999999999999999d354"
    (sent,) = huggy.requests
    assert (sent.method, sent.url) == ("POST", DEFAULT_CONFIRM_URL)
    assert sent.json == {"token": "380c4e7399999999999999999999d354"}
    assert sent.headers["User-Agent"].startswith("flask-huggy/")
    assert sent.timeout == 5.0


def test_the_interceptors_status_is_huggys_answer(app, client, fake_huggy) -> None:
    with fake_huggy(app) as huggy:
        huggy.respond(404)
        response = post_handshake(client)

    assert response.get_data(as_text=True) == TOKEN  # Huggy's answer never changes the handshake's
    assert get_endpoint(app).confirmed is False
    assert get_endpoint(app).last_handshake_error["huggy_status"] == 404


def test_the_interceptor_can_make_huggy_time_out(app, client, fake_huggy) -> None:
    with fake_huggy(app) as huggy:
        huggy.fail(requests.ReadTimeout)
        response = post_handshake(client)

    assert response.status_code == 200
    assert huggy.tokens == [TOKEN]
    assert get_endpoint(app).last_handshake_error["error"] == "huggy_timeout"


def test_post_handshake_closes_the_answer_so_the_confirmation_runs(app, client, fake_huggy) -> None:
    with fake_huggy(app) as huggy:
        post_handshake(client)

    assert huggy.tokens == [TOKEN]


def test_the_interceptor_catches_the_configured_confirm_url(make_app, fake_huggy) -> None:
    app = make_app(HUGGY_CONFIRM_URL="https://huggy.example/confirm")

    with fake_huggy(app) as huggy:
        response = post_handshake(app.test_client())

    assert response.status_code == 200
    assert [r.url for r in huggy.requests] == ["https://huggy.example/confirm"]


def test_the_interceptor_sees_every_retry_of_an_unreachable_huggy(make_app, fake_huggy) -> None:
    app = make_app()

    with fake_huggy(app) as huggy:
        huggy.fail(requests.ConnectionError)
        post_handshake(app.test_client())

    assert huggy.tokens == [TOKEN] * (1 + CONFIRM_RETRIES)
    assert get_endpoint(app).last_handshake_error["error"] == "huggy_unreachable"


def test_a_redirect_from_huggy_is_not_followed(app, client, fake_huggy) -> None:
    with fake_huggy(app) as huggy:
        huggy.respond(302, headers={"Location": "https://elsewhere.example/confirm"})
        post_handshake(client)

    assert [r.url for r in huggy.requests] == [DEFAULT_CONFIRM_URL]  # sent with allow_redirects=False
    assert get_endpoint(app).last_handshake_error["huggy_status"] == 302


def test_with_the_app_nothing_global_is_patched(app, client) -> None:
    original = HTTPAdapter.send

    with ConfirmationInterceptor(app=app) as huggy:
        assert HTTPAdapter.send is original
        assert requests.adapters.HTTPAdapter.send is original
        post_handshake(client)

    assert huggy.tokens == [TOKEN]
    assert HTTPAdapter.send is original


def test_with_the_app_the_endpoints_get_a_session_back_as_they_had_it(app, client) -> None:
    own = requests.Session()
    get_endpoint(app).http = own

    with ConfirmationInterceptor(app=app):
        during = get_endpoint(app).http

    assert isinstance(during, requests.Session) and during is not own
    assert get_endpoint(app).http is own


def test_with_the_app_every_endpoint_of_the_app_is_answered(app, client) -> None:
    app.config.update(HUGGY_B_WEBHOOK_TOKEN="token-of-account-b", HUGGY_B_CONFIRM_URL="https://huggy.example/b")
    app.register_blueprint(flask_huggy.make_blueprint("huggy_b", url_prefix="/huggy-b", config_prefix="HUGGY_B_"))

    with ConfirmationInterceptor(app=app) as huggy:
        post_handshake(client)
        post_handshake(client, endpoint="huggy_b")

    assert [(r.url, r.token) for r in huggy.requests] == [
        (DEFAULT_CONFIRM_URL, TOKEN),
        ("https://huggy.example/b", "token-of-account-b"),
    ]


def test_with_the_app_other_apps_are_left_alone() -> None:
    mine, other = create_app(), create_app()

    with ConfirmationInterceptor(app=mine) as huggy:
        assert get_endpoint(other).http is None
        post_handshake(mine.test_client())

    assert huggy.tokens == [TOKEN]


def test_with_the_app_it_answers_even_while_responses_mocks_requests(app, client) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock, ConfirmationInterceptor(app=app) as huggy:
        post_handshake(client)

    assert huggy.tokens == [TOKEN]
    assert len(mock.calls) == 0  # the confirmation never reached requests' own transport
    assert get_endpoint(app).confirmed is True


def test_an_app_without_a_huggy_endpoint_has_nothing_to_intercept() -> None:
    with pytest.raises(LookupError, match="no Huggy endpoint"):
        ConfirmationInterceptor(app=Flask("plain")).start()


# --- SignalRecorder ---------------------------------------------------------------------------------


def test_the_recorder_names_a_signal_by_attribute_or_by_huggys_name(client) -> None:
    with SignalRecorder() as recorded:
        post_delivery(client, "closedChat")

    assert recorded.names() == ["closedChat", "huggy.event_received", "huggy.delivery_received"]
    assert recorded.events("closed_chat") == recorded.events("closedChat") == recorded.events(signals.closed_chat)
    assert len(recorded.events("closed_chat")) == 1
    assert recorded.events() == recorded.events("event_received")
    assert len(recorded.deliveries()) == 1


def test_the_recorder_refuses_a_name_that_is_no_signal() -> None:
    with pytest.raises(ValueError, match="closed_chats"):
        SignalRecorder().events("closed_chats")


def test_a_recorder_for_one_app_ignores_the_others() -> None:
    mine, other = create_app(), create_app()

    with SignalRecorder(sender=mine) as recorded:
        post_delivery(other.test_client(), "closedChat")
        post_delivery(mine.test_client(), "agentEntered")

    assert [e.name for e in recorded.events()] == ["agentEntered"]
    assert {call.sender for call in recorded.calls} == {mine}


def test_the_recorder_stops_listening_when_it_is_closed(client) -> None:
    with SignalRecorder() as recorded:
        pass
    post_delivery(client, "closedChat")

    assert recorded.calls == []
