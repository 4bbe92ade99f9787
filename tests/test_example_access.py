"""Only the webhook is open to all: ``INBOX_PASSWORD`` guards every page, ``TRUSTED_HOSTS`` refuses other Hosts."""

from __future__ import annotations

import base64
import re

import pytest
from flask import Flask
from werkzeug.datastructures import ImmutableDict

from example_app import config_from_environment, create_app
from example_app.models import EventRecord, db

from .conftest import TOKEN, load_payload

#: Flask reads TRUSTED_HOSTS from 3.1 on; the lowest-versions run of .ci/run uses 3.0,
#: where the inbox refuses the setting instead (tested below, on any Flask).
needs_trusted_hosts = pytest.mark.skipif(
    "TRUSTED_HOSTS" not in Flask.default_config, reason="TRUSTED_HOSTS needs Flask 3.1 or later"
)

PASSWORD = "correct horse battery staple"
#: The realm README promises; browsers show it in their prompt.
CHALLENGE = 'Basic realm="Huggy inbox"'


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def make_inbox(tmp_path, **config: object) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "HUGGY_WEBHOOK_TOKEN": TOKEN,
            "INBOX_DEMO_PAUSE": 0,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'inbox.sqlite3'}",
            **config,
        }
    )


@pytest.fixture
def locked(tmp_path) -> Flask:
    return make_inbox(tmp_path, INBOX_PASSWORD=PASSWORD)


def inbox_routes(app: Flask) -> list[tuple[str, str]]:
    """(method, URL) of every route of the inbox's blueprint, read from the app's URL map."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("inbox."):
            url = rule.rule.replace("<chat_id>", "12345")
            routes += [(method, url) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


def test_every_route_of_the_inbox_is_listed(locked) -> None:
    # The next tests walk this list: it must hold every page, the polling and the demo button.
    assert {url for _, url in inbox_routes(locked)} >= {"/", "/chats/12345", "/events", "/status", "/updates", "/demo"}


def test_with_a_password_every_page_asks_for_it(locked) -> None:
    client = locked.test_client()
    for method, url in inbox_routes(locked):
        response = client.open(url, method=method)

        assert response.status_code == 401, (method, url)
        assert response.headers["WWW-Authenticate"] == CHALLENGE
        assert response.get_json()["error"] == "password_required"


@pytest.mark.parametrize(
    "headers",
    [
        basic("admin", "wrong password"),
        basic("admin", PASSWORD + " "),
        basic("admin", "sénha errada"),  # non-ASCII: compared as bytes, never a 500
        basic(PASSWORD, ""),
        {"Authorization": "Bearer " + PASSWORD},
        {"Authorization": "Basic not-base64!"},
    ],
    ids=["wrong", "one-more-character", "non-ascii", "password-as-user", "bearer", "garbled"],
)
def test_a_wrong_or_missing_password_is_refused(locked, headers) -> None:
    response = locked.test_client().get("/", headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE


@pytest.mark.parametrize("user", ["admin", "", "any name"])
def test_the_password_opens_every_page_whatever_the_user_name(locked, user) -> None:
    client = locked.test_client()
    for method, url in inbox_routes(locked):
        if method != "GET":
            continue
        response = client.get(url, headers=basic(user, PASSWORD))
        assert response.status_code == (404 if url == "/chats/12345" else 200), url  # no such chat: past the door


def test_the_demo_button_works_with_the_password(locked) -> None:
    response = locked.test_client().post("/demo", headers=basic("me", PASSWORD))

    assert response.status_code == 303


def test_the_webhook_never_asks_for_the_password(locked) -> None:
    response = locked.test_client().post("/huggy/webhook", json=load_payload("closedChat"))

    assert response.status_code == 200
    with locked.app_context():
        assert db.session.scalars(db.select(EventRecord.name)).all() == ["closedChat"]


def test_static_files_stay_public(locked) -> None:
    response = locked.test_client().get("/static/inbox.css")

    assert response.status_code == 200


def test_a_password_from_the_environment_stays_text() -> None:
    assert config_from_environment({"INBOX_PASSWORD": "12345"}) == {"INBOX_PASSWORD": "12345"}
    assert config_from_environment({"INBOX_PASSWORD": "true"}) == {"INBOX_PASSWORD": "true"}
    assert config_from_environment({"INBOX_PASSWORD": '["a"]'}) == {"INBOX_PASSWORD": '["a"]'}


# --- the banner ------------------------------------------------------------------------------


def public_banner(app: Flask, base_url: str = "http://127.0.0.1:5000", **environ: str) -> bool:
    response = app.test_client().get("/", base_url=base_url, environ_overrides=environ, headers=basic("", PASSWORD))
    assert response.status_code == 200
    return 'id="public-banner"' in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("base_url", "environ"),
    [
        ("http://inbox.example.com", {}),  # a tunnel or a proxy passing the public Host
        ("http://192.168.1.20:5000", {}),  # a LAN address
        ("http://127.0.0.1:5000", {"SERVER_NAME": "0.0.0.0"}),  # flask run --host 0.0.0.0, browsed locally
        ("http://127.0.0.1:5000", {"REMOTE_ADDR": "203.0.113.9"}),  # a client from elsewhere
    ],
    ids=["public-host", "lan-host", "listening-everywhere", "remote-client"],
)
def test_without_a_password_pages_reachable_from_elsewhere_say_they_are_public(tmp_path, base_url, environ) -> None:
    inbox = make_inbox(tmp_path)

    assert public_banner(inbox, base_url, **environ)
    text = re.sub(
        r"\s+", " ", inbox.test_client().get("/", base_url=base_url, environ_overrides=environ).get_data(as_text=True)
    )
    assert "These pages are public" in text and "INBOX_PASSWORD" in text


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:5000", "http://localhost:5000", "http://[::1]:5000"])
def test_without_a_password_pages_on_loopback_show_no_public_banner(tmp_path, base_url) -> None:
    assert not public_banner(make_inbox(tmp_path), base_url, SERVER_NAME=base_url.rpartition(":")[0][7:].strip("[]"))


def test_with_a_password_pages_reached_from_elsewhere_show_no_public_banner(locked) -> None:
    assert not public_banner(locked, "http://inbox.example.com")


# --- TRUSTED_HOSTS ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "hosts"),
    [
        ('["inbox.example.com", "127.0.0.1"]', ["inbox.example.com", "127.0.0.1"]),
        ("inbox.example.com, 127.0.0.1", ["inbox.example.com", "127.0.0.1"]),
        ("inbox.example.com", ["inbox.example.com"]),
    ],
)
def test_trusted_hosts_come_from_the_environment_as_a_list(value, hosts) -> None:
    assert config_from_environment({"TRUSTED_HOSTS": value}) == {"TRUSTED_HOSTS": hosts}


@needs_trusted_hosts
def test_a_request_for_another_host_is_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TRUSTED_HOSTS", "inbox.example.com")
    inbox = make_inbox(tmp_path)
    client = inbox.test_client()

    assert client.get("/", base_url="https://inbox.example.com").status_code == 200
    assert (
        client.post("/huggy/webhook", base_url="https://inbox.example.com", json=load_payload("closedChat")).status_code
        == 200
    )
    assert client.get("/", base_url="http://127.0.0.1:59563").status_code == 400
    assert client.get("/", base_url="https://evil.example.net").status_code == 400
    assert (
        client.post("/huggy/webhook", base_url="https://evil.example.net", json=load_payload("closedChat")).status_code
        == 400
    )


def test_trusted_hosts_on_a_flask_that_ignores_them_refuse_to_start(tmp_path, monkeypatch) -> None:
    without = ImmutableDict({k: v for k, v in Flask.default_config.items() if k != "TRUSTED_HOSTS"})
    monkeypatch.setattr(Flask, "default_config", without)

    with pytest.raises(RuntimeError, match=r"Flask 3\.1"):
        make_inbox(tmp_path, TRUSTED_HOSTS=["inbox.example.com"])


@needs_trusted_hosts
def test_the_demo_button_and_command_pass_trusted_hosts(tmp_path) -> None:
    inbox = make_inbox(tmp_path, TRUSTED_HOSTS=[".example.com"])

    response = inbox.test_client().post("/demo", base_url="https://inbox.example.com")
    assert response.status_code == 303
    assert inbox.extensions["huggy_inbox"].last_demo.wait(30)
    result = inbox.test_cli_runner().invoke(args=["huggy-demo", "--pause", "0"])

    assert inbox.extensions["huggy_inbox"].last_demo.error is None
    assert result.exit_code == 0, result.output
    with inbox.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(EventRecord)) > 10
