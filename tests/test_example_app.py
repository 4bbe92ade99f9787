"""The example app receives a delivery and logs each event, as README shows."""

from __future__ import annotations

import pytest

from example_app import config_from_environment, create_app

from .conftest import TOKEN, load_payload


@pytest.fixture
def example(monkeypatch):
    monkeypatch.setenv("HUGGY_WEBHOOK_TOKEN", TOKEN)
    monkeypatch.setenv("HUGGY_STRICT", "true")
    return create_app({"TESTING": True})


def test_settings_come_from_environment_variables(example) -> None:
    assert example.config["HUGGY_WEBHOOK_TOKEN"] == TOKEN
    assert example.config["HUGGY_STRICT"] is True


def test_each_event_is_logged(example, caplog) -> None:
    caplog.set_level("INFO", logger="example_app")

    response = example.test_client().post("/huggy/webhook", json=load_payload("startedChat+receivedMessage"))

    assert response.status_code == 200
    logged = [r.getMessage() for r in caplog.records if r.name == "example_app"]
    assert any(line.startswith("startedChat ") for line in logged)
    assert any(line.startswith("receivedMessage ") and '"Olá"' in line for line in logged)


def test_a_wrong_token_is_refused(example) -> None:
    response = example.test_client().post("/huggy/webhook", json=load_payload("closedChat", token="wrong-token-xx"))

    assert response.status_code == 403


def test_plain_strings_and_json_values_are_both_read() -> None:
    config = config_from_environment({"HUGGY_WEBHOOK_TOKEN": "123456789", "HUGGY_CONFIRM_TIMEOUT": "2.5", "OTHER": "x"})

    assert config == {"HUGGY_WEBHOOK_TOKEN": "123456789", "HUGGY_CONFIRM_TIMEOUT": 2.5}
    assert config_from_environment({"HUGGY_WEBHOOK_TOKEN": '["old", "new"]'}) == {"HUGGY_WEBHOOK_TOKEN": ["old", "new"]}
