"""Settings come from app.config at request time, even when config changes later."""

from __future__ import annotations

from flask_huggy.config import settings_for

from .conftest import create_app, load_payload


def test_a_token_changed_after_the_first_request_takes_effect() -> None:
    app = create_app(HUGGY_WEBHOOK_TOKEN="first-token-1111")
    client = app.test_client()
    assert client.post("/huggy/webhook", json=load_payload("closedChat", token="first-token-1111")).status_code == 200

    app.config["HUGGY_WEBHOOK_TOKEN"] = "second-token-2222"

    assert client.post("/huggy/webhook", json=load_payload("closedChat", token="first-token-1111")).status_code == 403
    assert client.post("/huggy/webhook", json=load_payload("closedChat", token="second-token-2222")).status_code == 200


def test_a_token_list_mutated_in_place_takes_effect() -> None:
    tokens = ["old-token-aaaa"]
    app = create_app(HUGGY_WEBHOOK_TOKEN=tokens)
    client = app.test_client()
    assert client.post("/huggy/webhook", json=load_payload("closedChat", token="new-token-bbbb")).status_code == 403

    tokens.append("new-token-bbbb")

    assert client.post("/huggy/webhook", json=load_payload("closedChat", token="new-token-bbbb")).status_code == 200


def test_settings_are_built_once_while_config_is_unchanged() -> None:
    app = create_app()

    assert settings_for(app) is settings_for(app)
    app.config["HUGGY_STRICT"] = True
    assert settings_for(app).strict is True


def test_each_config_prefix_has_its_own_settings() -> None:
    app = create_app(HUGGY_B_WEBHOOK_TOKEN="token-of-account-b", HUGGY_B_STRICT=True)

    assert settings_for(app, "HUGGY_B_").tokens == ("token-of-account-b",)
    assert settings_for(app, "HUGGY_B_").strict is True
    assert settings_for(app).strict is False
