""""Try it without Huggy" posts a realistic conversation to the inbox's own webhook, over real HTTP."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
import requests
from flask import Flask

from example_app import create_app
from example_app.demo import COMPANY_ID, DemoUnavailable, conversation, own_base_url
from example_app.models import Chat, EventRecord, db
from example_app.state import inbox_state
from example_app.testing import serve
from flask_huggy import parse_delivery, validate_all
from flask_huggy.testing import build_delivery

from .conftest import TOKEN


@pytest.fixture
def inbox(tmp_path) -> Flask:
    return create_app({
        "HUGGY_WEBHOOK_TOKEN": TOKEN,
        "INBOX_DEMO_PAUSE": 0,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'inbox.sqlite3'}",
    })


@pytest.fixture
def server(inbox: Flask) -> Iterator[str]:
    """The inbox under a real WSGI server on a free 127.0.0.1 port: its base URL."""
    with serve(inbox) as base_url:
        yield base_url


def chats(app: Flask) -> list[tuple[str | None, str]]:
    with app.app_context():
        return [(c.contact_name, c.status) for c in db.session.scalars(db.select(Chat).order_by(Chat.contact_name))]


def test_the_conversation_is_made_of_valid_huggy_events() -> None:
    for step in conversation():
        delivery = parse_delivery(build_delivery(*step.events), ZoneInfo("America/Sao_Paulo"))
        validate_all(delivery)  # raises InvalidEvent naming the field otherwise
        assert all(event.known for event in delivery.events)


def test_the_demo_button_fills_the_inbox_over_http(inbox, server) -> None:
    response = requests.post(f"{server}/demo", data={"next": "/status"}, headers={"Origin": server},
                             allow_redirects=False, timeout=10)

    assert response.status_code == 303
    assert response.headers["Location"] == "/status"
    run = inbox_state(inbox).last_demo
    assert run is not None and run.wait(timeout=30)
    assert (run.error, run.accepted, run.total) == (None, len(conversation()), len(conversation()))
    assert run.target == f"{server}/huggy/webhook"
    assert chats(inbox) == [("Carlos Pereira", "open"), ("Maria Souza", "closed")]


@pytest.mark.parametrize("back", ["https://evil.example/", "//evil.example/", "/\\evil.example/"])
def test_the_demo_button_only_leads_back_to_the_inboxs_own_pages(inbox, server, back) -> None:
    response = requests.post(f"{server}/demo", data={"next": back}, headers={"Origin": server},
                             allow_redirects=False, timeout=10)

    assert response.headers["Location"] == "/"
    inbox_state(inbox).last_demo.wait(timeout=30)


def test_the_demo_command_posts_the_conversation_to_a_running_inbox(inbox, server) -> None:
    result = inbox.test_cli_runner().invoke(args=["huggy-demo", "--url", server, "--pause", "0"])

    assert result.exit_code == 0, result.output
    assert f"Posting {len(conversation())} deliveries to {server}/huggy/webhook" in result.output
    assert "Ana closes Maria's chat with a tabulation: sendedAllMessage + closedChat -> accepted" in result.output
    assert chats(inbox) == [("Carlos Pereira", "open"), ("Maria Souza", "closed")]


def test_the_demo_command_says_when_the_token_is_refused(inbox, server) -> None:
    result = inbox.test_cli_runner().invoke(args=["huggy-demo", "--url", server, "--token", "not-the-token-at-all"])

    assert result.exit_code == 1
    assert "refused, HTTP 403 invalid_token" in result.output
    with inbox.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(EventRecord)) == 0


def test_the_demo_command_says_when_the_inbox_is_not_running(inbox) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    result = inbox.test_cli_runner().invoke(args=["huggy-demo", "--url", f"http://127.0.0.1:{port}"])

    assert result.exit_code == 1
    assert "Is the inbox running? Start it with: flask --app example_app run" in result.output


def test_the_button_posts_to_the_servers_own_socket_not_to_the_host_header() -> None:
    environ = {"SERVER_NAME": "127.0.0.1", "SERVER_PORT": "5000", "wsgi.url_scheme": "http",
               "HTTP_HOST": "attacker.example:80"}

    assert own_base_url(environ) == "http://127.0.0.1:5000"


def test_a_server_bound_to_every_interface_is_reached_on_loopback() -> None:
    assert own_base_url({"SERVER_NAME": "0.0.0.0", "SERVER_PORT": "8000", "wsgi.url_scheme": "http"}) == "http://127.0.0.1:8000"
    assert own_base_url({"SERVER_NAME": "::", "SERVER_PORT": "8000", "wsgi.url_scheme": "http"}) == "http://[::1]:8000"


def test_behind_proxy_fix_the_original_server_address_is_used() -> None:
    environ = {"SERVER_NAME": "inbox.example.com", "SERVER_PORT": "443", "wsgi.url_scheme": "https",
               "werkzeug.proxy_fix.orig": {"SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "wsgi.url_scheme": "http"}}

    assert own_base_url(environ) == "http://127.0.0.1:8000"


@pytest.mark.parametrize("server_name", ["inbox.example.com", "8.8.8.8"])
def test_the_button_never_posts_to_a_name_or_a_public_address(server_name) -> None:
    with pytest.raises(DemoUnavailable, match="huggy-demo --url"):
        own_base_url({"SERVER_NAME": server_name, "SERVER_PORT": "80", "wsgi.url_scheme": "http"})


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
        collect(list(step.events))

    assert found == {str(COMPANY_ID)}
