""" "Try it without Huggy" posts a realistic conversation through the inbox's own webhook.

The button and ``flask huggy-demo`` post through the app itself (in-process,
through the real blueprint); ``huggy-demo --url`` posts to a running inbox over
real HTTP.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
import requests
from flask import Flask

from example_app import create_app
from example_app.demo import COMPANY_ID, CONVERSATION_FILE, conversation, delivery
from example_app.models import Chat, EventRecord, db
from example_app.state import inbox_state
from example_app.testing import serve
from flask_huggy.dispatch import validate_all
from flask_huggy.envelope import parse_delivery

from .conftest import TOKEN

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


@pytest.fixture
def inbox(tmp_path) -> Flask:
    return create_app(
        {
            "HUGGY_WEBHOOK_TOKEN": TOKEN,
            "INBOX_DEMO_PAUSE": 0,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'inbox.sqlite3'}",
        }
    )


@pytest.fixture
def server(inbox: Flask) -> Iterator[str]:
    """The inbox under a real WSGI server on a free 127.0.0.1 port: its base URL."""
    with serve(inbox) as base_url:
        yield base_url


@pytest.fixture
def trap() -> Iterator[socket.socket]:
    """A socket listening on a free 127.0.0.1 port, that nobody should ever connect to."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        yield sock


def nobody_connected(sock: socket.socket) -> bool:
    try:
        connection, _ = sock.accept()
    except BlockingIOError:
        return True
    connection.close()
    return False


def chats(app: Flask) -> list[tuple[str | None, str]]:
    with app.app_context():
        return [(c.contact_name, c.status) for c in db.session.scalars(db.select(Chat).order_by(Chat.contact_name))]


def event_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(EventRecord)) or 0


def test_the_conversation_is_made_of_valid_huggy_events() -> None:
    for step in conversation():
        parsed = parse_delivery(delivery(step, TOKEN, zone=SAO_PAULO), SAO_PAULO)
        validate_all(parsed)  # raises InvalidEvent naming the field otherwise
        assert all(event.known for event in parsed.events)


def test_each_run_has_fresh_ids_and_leaves_no_placeholder() -> None:
    first, second = conversation(), conversation()
    chat_ids = [step.messages["startedChat"][0]["id"] for step in first if "startedChat" in step.messages]

    assert len(set(chat_ids)) == 2 and all(isinstance(chat_id, int) for chat_id in chat_ids)
    assert not {step.messages["startedChat"][0]["id"] for step in second if "startedChat" in step.messages} & set(
        chat_ids
    )
    posted = json.dumps([delivery(step, TOKEN, zone=SAO_PAULO) for step in first], ensure_ascii=False)
    assert not re.search(r"\{\{\w+(\|string)?\}\}", posted)
    assert "{{now}}" in CONVERSATION_FILE.read_text(encoding="utf-8")  # the file keeps its placeholders


def test_huggys_times_are_the_deliverys_time_in_huggy_timezone() -> None:
    closing = conversation()[-1]

    posted = delivery(closing, TOKEN, zone=SAO_PAULO, at=1_700_000_000)  # 22:13:20 UTC

    assert posted["time"] == 1_700_000_000
    assert posted["messages"]["sendedAllMessage"][0]["send_at"] == "2023-11-14 19:13:20"
    assert posted["messages"]["closedChat"][0]["closed_at"] == "2023-11-14 19:13:20"
    assert list(posted) == ["time", "messages", "token"] and posted["token"] == TOKEN


def test_the_demo_button_fills_the_inbox_through_the_app_itself(inbox) -> None:
    response = inbox.test_client().post("/demo", data={"next": "/status"})

    assert response.status_code == 303
    assert response.headers["Location"] == "/status"
    run = inbox_state(inbox).last_demo
    assert run is not None and run.wait(timeout=30)
    assert (run.error, run.accepted, run.total) == (None, len(conversation()), len(conversation()))
    assert run.target == "/huggy/webhook"
    assert chats(inbox) == [("Carlos Pereira", "open"), ("Maria Souza", "closed")]


def test_the_demo_button_under_a_real_server_fills_the_inbox(inbox, server) -> None:
    response = requests.post(
        f"{server}/demo", data={"next": "/"}, headers={"Origin": server}, allow_redirects=False, timeout=10
    )

    assert response.status_code == 303
    run = inbox_state(inbox).last_demo
    assert run is not None and run.wait(timeout=30)
    assert (run.error, run.accepted) == (None, len(conversation()))
    assert chats(inbox) == [("Carlos Pereira", "open"), ("Maria Souza", "closed")]


def test_the_demo_button_never_posts_where_the_request_says_the_server_is(inbox, trap) -> None:
    # Behind a unix socket gunicorn fills SERVER_NAME/SERVER_PORT from the Host header: a request
    # naming this listening port must not send it the demo and its token. The demo reaches no socket.
    port = trap.getsockname()[1]
    client = inbox.test_client()
    response = client.post("/demo", base_url=f"http://127.0.0.1:{port}", headers={"Host": f"127.0.0.1:{port}"})

    assert response.status_code == 303
    run = inbox_state(inbox).last_demo
    assert run is not None and run.wait(timeout=30)
    assert (run.error, run.accepted) == (None, len(conversation()))
    assert event_count(inbox) > 0
    assert nobody_connected(trap)


@pytest.mark.parametrize("back", ["https://evil.example/", "//evil.example/", "/\\evil.example/"])
def test_the_demo_button_only_leads_back_to_the_inboxs_own_pages(inbox, back) -> None:
    response = inbox.test_client().post("/demo", data={"next": back})

    assert response.headers["Location"] == "/"
    inbox_state(inbox).last_demo.wait(timeout=30)


def test_a_refused_demo_says_why(tmp_path) -> None:
    closed = create_app(
        {
            "HUGGY_ALLOW_UNAUTHENTICATED": False,  # no token and nobody let in: every delivery is refused
            "INBOX_DEMO_PAUSE": 0,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'inbox.sqlite3'}",
        }
    )

    closed.test_client().post("/demo")

    run = inbox_state(closed).last_demo
    assert run is not None and run.wait(timeout=30)
    assert (run.sent, run.accepted, run.refused) == (1, 0, (403, "token_not_configured"))
    assert run.error is not None and run.error.startswith("The webhook answered HTTP 403: token_not_configured")
    assert event_count(closed) == 0


def test_the_demo_command_posts_through_the_app_itself_by_default(inbox) -> None:
    result = inbox.test_cli_runner().invoke(args=["huggy-demo", "--pause", "0"])

    assert result.exit_code == 0, result.output
    assert f"Posting {len(conversation())} deliveries to /huggy/webhook, through the app itself" in result.output
    assert "Ana closes Maria's chat with a tabulation: sendedAllMessage + closedChat -> accepted" in result.output
    assert chats(inbox) == [("Carlos Pereira", "open"), ("Maria Souza", "closed")]


def test_the_demo_command_posts_the_conversation_to_a_running_inbox(inbox, server) -> None:
    result = inbox.test_cli_runner().invoke(args=["huggy-demo", "--url", server, "--pause", "0"])

    assert result.exit_code == 0, result.output
    assert f"Posting {len(conversation())} deliveries to {server}/huggy/webhook" in result.output
    assert "Ana closes Maria's chat with a tabulation: sendedAllMessage + closedChat -> accepted" in result.output
    assert f"Done: open {server}/ to see the chats." in result.output
    assert chats(inbox) == [("Carlos Pereira", "open"), ("Maria Souza", "closed")]


@pytest.mark.parametrize("url", [False, True])
def test_the_demo_command_says_when_the_token_is_refused(inbox, request, url) -> None:
    args = ["huggy-demo", "--token", "not-the-token-at-all"]
    if url:
        args += ["--url", request.getfixturevalue("server")]

    result = inbox.test_cli_runner().invoke(args=args)

    assert result.exit_code == 1
    assert "refused, HTTP 403 invalid_token" in result.output
    assert event_count(inbox) == 0


def test_the_demo_command_says_when_the_inbox_is_not_running(inbox) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    result = inbox.test_cli_runner().invoke(args=["huggy-demo", "--url", f"http://127.0.0.1:{port}"])

    assert result.exit_code == 1
    assert "Is the inbox running? Start it with: flask --app example_app run" in result.output


def test_the_conversation_is_one_shops_it_names_one_company() -> None:
    found: set[str] = set()

    def collect(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.lower() in ("companyid", "huggy.chat.company.id"):
                    found.add(str(value))
                elif key == "company" and isinstance(value, dict):
                    found.add(str(value.get("id")))
                collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    for step in conversation():
        collect(dict(step.messages))

    assert found == {str(COMPANY_ID)}


def test_the_conversation_file_holds_only_the_placeholders_it_documents() -> None:
    text = CONVERSATION_FILE.read_text(encoding="utf-8")

    used = set(re.findall(r"\{\{[^}]*\}\}", text))

    assert {"{{now}}", "{{maria_chat}}", "{{carlos_chat}}"} <= used
    assert all(re.fullmatch(r"\{\{(now|[a-z_0-9]+(\|string)?)\}\}", placeholder) for placeholder in used)
