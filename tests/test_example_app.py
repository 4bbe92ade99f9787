"""The example app (the Huggy inbox) is configured from the environment and logs each event, without personal data."""

from __future__ import annotations

from typing import Any

import pytest

from example_app import config_from_environment, create_app

from .conftest import TOKEN, load_payload


@pytest.fixture
def example(monkeypatch, tmp_path):
    monkeypatch.setenv("HUGGY_WEBHOOK_TOKEN", TOKEN)
    monkeypatch.setenv("HUGGY_STRICT", "true")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'inbox.sqlite3'}")
    monkeypatch.setenv("INBOX_DEMO", "false")
    monkeypatch.setenv("INBOX_PUBLIC_URL", "https://inbox.example.com")
    return create_app({"TESTING": True})


def test_settings_come_from_environment_variables(example) -> None:
    assert example.config["HUGGY_WEBHOOK_TOKEN"] == TOKEN
    assert example.config["HUGGY_STRICT"] is True


def personal_data(node: Any) -> set[str]:
    """Every phone, mobile and e-mail in a sample, wherever it sits."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("phone", "mobile", "email") and value:
                found.add(str(value))
            found |= personal_data(value)
    elif isinstance(node, list):
        for value in node:
            found |= personal_data(value)
    return found


def test_each_event_is_logged_by_name_and_ids_without_personal_data(example, caplog) -> None:
    caplog.set_level("INFO")
    payload = load_payload("receivedMessage")
    message = payload["messages"]["receivedMessage"][0]
    private = personal_data(payload) | {message["body"], message["sender"]["name"]}
    assert len(private) >= 4  # the sample does carry phones and e-mails

    response = example.test_client().post("/huggy/webhook", json=payload)

    assert response.status_code == 200
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert [secret for secret in private if secret in logged] == []
    assert f"receivedMessage chat={message['chat']['id']} message={message['id']}" in logged


def test_a_wrong_token_is_refused(example) -> None:
    response = example.test_client().post("/huggy/webhook", json=load_payload("closedChat", token="wrong-token-xx"))

    assert response.status_code == 403


def test_plain_strings_and_json_values_are_both_read() -> None:
    config = config_from_environment({"HUGGY_WEBHOOK_TOKEN": "123456789", "HUGGY_DEDUP_TTL": "2.5", "OTHER": "x"})

    assert config == {"HUGGY_WEBHOOK_TOKEN": "123456789", "HUGGY_DEDUP_TTL": 2.5}
    assert config_from_environment({"HUGGY_WEBHOOK_TOKEN": '["old", "new"]'}) == {"HUGGY_WEBHOOK_TOKEN": ["old", "new"]}


def test_the_database_comes_from_database_url(example, tmp_path) -> None:
    assert example.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'inbox.sqlite3'}"
    assert (tmp_path / "inbox.sqlite3").exists()


def test_a_heroku_style_postgres_url_is_read_as_postgresql() -> None:
    config = config_from_environment({"DATABASE_URL": "postgres://inbox:secret@db.example.com/inbox"})

    assert config == {"SQLALCHEMY_DATABASE_URI": "postgresql://inbox:secret@db.example.com/inbox"}


def test_inbox_settings_come_from_environment_variables_too(example) -> None:
    assert example.config["INBOX_DEMO"] is False
    assert example.config["INBOX_PUBLIC_URL"] == "https://inbox.example.com"


def test_config_given_to_the_factory_wins_over_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("INBOX_DEMO_PAUSE", "3")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}", "INBOX_DEMO_PAUSE": 0})

    assert app.config["INBOX_DEMO_PAUSE"] == 0
