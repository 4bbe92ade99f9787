"""The inbox's pages show what the webhook received: chats, timelines, the events log, the status."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from example_app import create_app
from example_app.demo import conversation, delivery
from example_app.models import Chat, db
from example_app.state import DemoRun, Refusal, inbox_state
from example_app.webhook import huggy
from flask_huggy import signals
from flask_huggy.testing import build_delivery, build_event

from .conftest import TOKEN, load_payload


@pytest.fixture
def inbox(tmp_path) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "HUGGY_WEBHOOK_TOKEN": TOKEN,
            "INBOX_PUBLIC_URL": "https://inbox.example.com",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'inbox.sqlite3'}",
        }
    )


@pytest.fixture
def huggy_app(inbox: Flask) -> Flask:
    return inbox


@pytest.fixture
def maria_chat(inbox, post_huggy) -> str:
    """The demo conversation, posted through the webhook; the id of Maria's chat."""
    for step in conversation():
        assert post_huggy(delivery(step, TOKEN, zone=ZoneInfo("America/Sao_Paulo"))).status_code == 200
    with inbox.app_context():
        return db.session.scalars(db.select(Chat.id).filter_by(contact_name="Maria Souza")).one()


def page(app: Flask, url: str) -> str:
    response = app.test_client().get(url)
    assert response.status_code == 200, response.status
    return response.get_data(as_text=True)


def visible_text(html: str) -> str:
    """The page's text, whitespace collapsed, as a reader sees it."""

    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.parts: list[str] = []

        def handle_data(self, data: str) -> None:
            self.parts.append(data)

    parser = Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def test_an_empty_inbox_says_where_to_point_huggy_and_offers_the_demo(inbox) -> None:
    text = visible_text(page(inbox, "/"))

    assert "No chat yet" in text
    assert "https://inbox.example.com/huggy/webhook" in text
    assert "Try it without Huggy" in text


def test_the_chats_page_shows_contact_channel_last_message_status_and_agent(inbox, maria_chat) -> None:
    text = visible_text(page(inbox, "/"))

    assert re.search(
        r"Maria Souza chat \d+ WhatsApp Agent: Qualquer coisa, é só chamar. Até logo! "
        r"closed Pedido atrasado Agent Ana Lima \d+ \w{3} \d{4}, \d\d:\d\d",
        text,
    )
    assert re.search(
        r"Carlos Pereira chat \d+ Huggy Chat Contact: Boa tarde! Vocês entregam em Salvador\? open — "
        r"\d+ \w{3} \d{4}, \d\d:\d\d",
        text,
    )


def test_the_chats_page_filters_open_chats(inbox, maria_chat) -> None:
    text = visible_text(page(inbox, "/?status=open"))

    assert "Carlos Pereira" in text
    assert "Maria Souza" not in text


def test_a_chat_shows_its_timeline_in_order(inbox, maria_chat) -> None:
    text = visible_text(page(inbox, f"/chats/{maria_chat}"))

    expected = [
        "Chat started by Maria Souza on WhatsApp Loja Exemplo",
        "Maria Souza WhatsApp",
        "Olá! Meu pedido #4512 ainda não chegou",
        "Automation flow 70582 started",
        "Automation flow 70582 finished",
        "Left the queue",
        "Ana Lima entered the chat",
        "Ana Lima agent",
        "Oi, Maria!",
        "Ana Lima internal note",
        "Transportadora confirmou o atraso",
        "Falei com a transportadora",
        "Ah, que bom! Obrigada, Ana.",
        "Moved from step Em atendimento to Resolvido (Suporte)",
        "Qualquer coisa, é só chamar.",
        "Chat closed, tabulation: Pedido atrasado",
    ]
    positions = [text.find(part) for part in expected]
    assert -1 not in positions, [part for part in expected if part not in text]
    assert positions == sorted(positions)


def test_a_message_huggy_reports_twice_is_shown_once(inbox, maria_chat) -> None:
    html = page(inbox, f"/chats/{maria_chat}")

    assert html.count("Olá! Meu pedido #4512 ainda não chegou") == 1
    assert "receivedMessage + receivedAllMessage" in html


def test_an_unknown_chat_is_not_found(inbox) -> None:
    assert inbox.test_client().get("/chats/404404").status_code == 404


def test_the_events_log_filters_by_event_name(inbox, maria_chat) -> None:
    text = visible_text(page(inbox, "/events?name=closedChat"))

    assert "Chat closed, tabulation: Pedido atrasado" in text
    assert "sendedAllMessage" not in text.replace("sendedAllMessage (3)", "")  # only in the filter's menu


def test_the_events_log_filters_by_chat(inbox, maria_chat) -> None:
    text = visible_text(page(inbox, f"/events?chat={maria_chat}"))

    assert "Left the queue" in text
    assert "Vocês entregam em Salvador" not in text


def test_the_events_log_shows_the_raw_json_of_each_event(inbox, post_huggy) -> None:
    post_huggy(load_payload("closedChat"))

    html = page(inbox, "/events")

    assert "&#34;closed_at&#34;: &#34;2020-03-05 17:21:10&#34;" in html
    assert "&#34;tabulation&#34;: false" in html


def test_the_status_page_says_whether_a_token_is_configured(inbox, tmp_path) -> None:
    assert "configured ****62e4" in visible_text(page(inbox, "/status"))

    no_token = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'other.sqlite3'}"})
    assert "not configured : anyone can post deliveries until a token is set" in visible_text(page(no_token, "/status"))


def test_the_status_page_counts_events_per_type(inbox, maria_chat) -> None:
    html = page(inbox, "/status")
    per_type = visible_text(html[html.index('id="per-type"') :])

    assert "receivedAllMessage 3" in per_type
    assert "closedChat 1" in per_type
    assert "Deliveries 11 Events 19" in visible_text(html)


def test_the_status_page_draws_events_per_hour_by_type(inbox, maria_chat) -> None:
    html = page(inbox, "/status")
    chart = html[html.index('<svg class="chart"') : html.index("</svg>")]

    assert re.search(r"<title>\d\d:00: 3 receivedAllMessage</title>", chart)
    assert re.search(r"<title>\d\d:00: 1 closedChat</title>", chart)


def test_the_status_page_tells_when_the_handshake_was_answered_and_confirmed(inbox, post_huggy, huggy_confirm) -> None:
    assert "not yet." in visible_text(page(inbox, "/status"))

    post_huggy.handshake()

    handshake = visible_text(page(inbox, "/status")).split("Handshake", 1)[1].split("Traffic", 1)[0]
    assert re.fullmatch(
        r" Answered \d+ \w{3} \d{4}, \d\d:\d\d:\d\d , with token \*\*\*\*62e4 "
        r"Confirmation request accepted by Huggy ",
        handshake,
    ), handshake


def test_pages_poll_a_small_json_endpoint_for_new_events(inbox, post_huggy) -> None:
    client = inbox.test_client()
    assert client.get("/updates?after=0").get_json() == {"last_event_id": 0, "new_events": 0, "demo_running": False}

    post_huggy("startedChat", "receivedMessage")

    assert client.get("/updates?after=0").get_json()["new_events"] == 2
    assert client.get("/updates?after=2").get_json() == {"last_event_id": 2, "new_events": 0, "demo_running": False}
    assert 'data-cursor="2"' in page(inbox, "/")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("/events?before=99999999999999999999", 19),  # past any id: before every event
        ("/events?before=-99999999999999999999", 0),
        ("/updates?after=-99999999999999999999", 19),
        ("/updates?after=99999999999999999999", 0),
    ],
)
def test_ids_past_what_a_database_holds_are_read_as_the_end_of_the_range(inbox, maria_chat, url, shown) -> None:
    response = inbox.test_client().get(url)

    assert response.status_code == 200
    if url.startswith("/updates"):
        assert response.get_json()["new_events"] == shown
    else:
        assert response.get_data(as_text=True).count('id="event-') == shown


@pytest.mark.parametrize("url", ["/", "/events", "/status", "/static/inbox.css", "/static/live.js"])
def test_pages_load_nothing_from_other_hosts(inbox, maria_chat, url) -> None:
    html = page(inbox, url)

    external = re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//[^"'\s>]+|url\(\s*["']?(?:https?:)?//""", html)
    assert external == []


def test_the_demo_button_refuses_a_post_from_another_site(inbox) -> None:
    response = inbox.test_client().post(
        "/demo", headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    )

    assert response.status_code == 403


def test_the_demo_button_can_be_turned_off(tmp_path) -> None:
    app = create_app({"INBOX_DEMO": False, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}"})

    assert "Try it without Huggy" not in page(app, "/")
    assert app.test_client().post("/demo").status_code == 404


def test_a_timeline_reads_in_huggys_order_and_says_what_arrived_late(inbox, post_huggy) -> None:
    post_huggy(load_payload("closedChat"))  # Huggy's time 17:21:10
    post_huggy(load_payload("agentEntered"))  # 17:11:54, arrives second

    html = page(inbox, "/chats/30608118")
    text = visible_text(html)

    assert text.index("John Doe entered the chat") < text.index("Chat closed without tabulation")
    assert re.search(r"John Doe entered the chat .*agentEntered arrived later, ", text)
    assert not re.search(r"Chat closed without tabulation .*closedChat arrived later", text)
    assert "· finished" in text and "in_chat" not in text.split("Status", 1)[0]


def test_times_carry_the_date_and_the_utc_instant(inbox, post_huggy) -> None:
    post_huggy(load_payload("closedChat"))

    html = page(inbox, "/chats/30608118")

    assert (
        '<time datetime="2020-03-05T20:21:10Z" title="2020-03-05 20:21:10 UTC" data-style="seconds">'
        "5 Mar 2020, 17:21:10</time>"
    ) in html


def test_pages_render_times_in_the_zone_the_browser_told(inbox, post_huggy) -> None:
    post_huggy(load_payload("closedChat"))
    client = inbox.test_client()
    client.set_cookie("inbox_tz", "Asia/Tokyo")

    assert "6 Mar 2020, 05:21:10</time>" in client.get("/chats/30608118").get_data(as_text=True)
    client.set_cookie("inbox_tz", "../../etc/passwd")
    assert "5 Mar 2020, 17:21:10</time>" in client.get("/chats/30608118").get_data(as_text=True)


def test_a_chat_page_shows_its_phases(inbox, post_huggy) -> None:
    started = build_event("startedChat", id=777, situation="wait_for_chat")
    entered = build_event("agentEntered", id=777, agent={"id": 1, "name": "Ana"})
    closed = build_event("closedChat", id=777)
    post_huggy(build_delivery(started, token=TOKEN, time=1_700_000_000))
    post_huggy(build_delivery(entered, token=TOKEN, time=1_700_000_095))
    post_huggy(build_delivery(closed, token=TOKEN, time=1_700_000_400))

    text = visible_text(page(inbox, "/chats/777"))

    assert "In the queue 1 min 35 s With an agent 5 min 5 s Time to close 6 min 40 s" in text


def test_the_status_page_says_how_the_confirmation_request_went(inbox) -> None:
    failed = (
        "failed : huggy_unreachable: Huggy could not be reached. "
        "The handshake was answered with the token all the same."
    )
    for confirmed, expected in [(False, failed), (None, "switched off ( HUGGY_CONFIRM_URL is empty)")]:
        huggy.endpoint(inbox).last_handshake_error = {
            "error": "huggy_unreachable",
            "message": "Huggy could not be reached.",
        }
        with inbox.app_context():
            signals.token_validated.send(inbox, token=TOKEN, confirmed=confirmed)

        text = visible_text(page(inbox, "/status"))
        assert f"Confirmation request {expected}" in text, text


def test_a_refusal_is_listed_with_the_error_the_webhook_answered(inbox) -> None:
    answer = inbox.test_client().post("/huggy/webhook", data=b"{", content_type="application/json").get_json()

    errors = visible_text(page(inbox, "/status"))

    assert "Webhook refused a request (HTTP 400)" in errors
    assert f"{answer['error']}: {answer['message']}" in errors


def test_a_receiver_that_raises_is_listed_as_a_failed_request(inbox) -> None:
    inbox.testing = False  # Flask answers 500 itself, as in production

    def broken(sender: Flask, **extra: object) -> None:
        raise RuntimeError("the database is gone")

    signals.closed_chat.connect(broken, sender=inbox, weak=False)
    try:
        assert inbox.test_client().post("/huggy/webhook", json=load_payload("closedChat")).status_code == 500
    finally:
        signals.closed_chat.disconnect(broken, sender=inbox)

    errors = visible_text(page(inbox, "/status"))
    assert "Webhook could not take a request (HTTP 500)" in errors
    assert "receiver_failed: A receiver of closedChat raised RuntimeError; Huggy retries the delivery." in errors
    assert "the database is gone" not in errors


def test_one_failure_is_one_line_under_last_errors(inbox) -> None:
    error = {"error": "huggy_unreachable", "message": "Huggy could not be reached."}
    huggy.endpoint(inbox).last_handshake_error = error
    now = datetime.now(timezone.utc)
    state = inbox_state(inbox)
    # How flask-huggy before the handshake answered with the token reported a failed confirmation: a 502 too.
    state.last_refusal = Refusal(at=now, status=502, error=error["error"], message=error["message"])

    assert visible_text(page(inbox, "/status")).count("Huggy could not be reached") == 1

    # A demo the webhook refused: the demo's line says why, the refusal is not listed again.
    state.last_demo = DemoRun(
        started_at=now - timedelta(seconds=5),
        target="http://127.0.0.1:1/huggy/webhook",
        total=11,
        error="The webhook answered HTTP 403: invalid_token: The token does not match.",
        refused=(403, "invalid_token"),
    )
    state.last_refusal = Refusal(at=now, status=403, error="invalid_token", message="The token does not match.")
    state.last_demo.finish()
    html = page(inbox, "/status")
    errors = html[html.index('id="last-errors"') : html.index("</ul>", html.index('id="last-errors"'))]
    assert errors.count("<li>") == 2  # the demo, the handshake
    assert "Demo stopped" in errors and "Webhook refused" not in errors


def test_a_finished_demos_banner_is_gone_after_the_banner_time(inbox) -> None:
    state = inbox_state(inbox)
    state.last_demo = DemoRun(
        started_at=datetime.now(timezone.utc), target="http://127.0.0.1:1/huggy/webhook", total=11
    )
    state.last_demo.finish()
    assert 'id="demo-status"' in page(inbox, "/")

    state.last_demo.finished_at = datetime.now(timezone.utc) - timedelta(
        seconds=inbox.config["INBOX_BANNER_SECONDS"] + 1
    )

    assert 'id="demo-status"' not in page(inbox, "/")


def test_without_a_token_the_inbox_takes_deliveries_from_anyone_and_says_so(tmp_path) -> None:
    open_inbox = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'open.sqlite3'}"})

    assert open_inbox.config["HUGGY_ALLOW_UNAUTHENTICATED"] is True
    assert (
        open_inbox.test_client().post("/huggy/webhook", json=load_payload("closedChat", token="anything")).status_code
        == 200
    )
    for url in ("/", "/status"):
        assert "Anyone can post deliveries to this inbox until a token is set" in visible_text(page(open_inbox, url))


def test_with_a_token_the_inbox_leaves_unauthenticated_deliveries_off(inbox) -> None:
    assert "HUGGY_ALLOW_UNAUTHENTICATED" not in inbox.config
    assert "Anyone can post" not in page(inbox, "/")
