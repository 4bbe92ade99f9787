"""Who may post: the token check and what it logs."""

from __future__ import annotations

import hmac

import pytest

from flask_huggy import signals
from flask_huggy.auth import mask_token, token_matches

from .conftest import TOKEN


def test_wrong_token_is_refused_and_nothing_fires(client, recorder, payload) -> None:
    response = client.post("/huggy/webhook", json=payload("closedChat", token="0" * 32))

    assert response.status_code == 403
    assert response.get_json() == {
        "error": "invalid_token",
        "message": "The token does not match the configured token.",
    }
    assert recorder.names() == ["huggy.delivery_refused"]  # and nothing else


def test_missing_token_is_refused_and_nothing_fires(client, recorder, payload) -> None:
    body = payload("closedChat")
    del body["token"]

    response = client.post("/huggy/webhook", json=body)

    assert response.status_code == 403
    assert response.get_json()["error"] == "missing_token"
    assert recorder.names() == ["huggy.delivery_refused"]  # and nothing else


@pytest.mark.parametrize("token", [None, 12345, ["x"], {"t": 1}, "", TOKEN.upper(), TOKEN + " "])
def test_tokens_that_are_not_exactly_the_configured_string_are_refused(client, recorder, payload, token) -> None:
    response = client.post("/huggy/webhook", json=payload("closedChat", token=None) | {"token": token})

    assert response.status_code == 403
    assert recorder.names() == ["huggy.delivery_refused"]  # and nothing else


def test_any_of_several_configured_tokens_is_accepted(make_app, payload) -> None:
    app = make_app(HUGGY_WEBHOOK_TOKEN=("old-token-aaaa", "new-token-bbbb"))
    client = app.test_client()

    assert client.post("/huggy/webhook", json=payload("closedChat", token="old-token-aaaa")).status_code == 200
    assert client.post("/huggy/webhook", json=payload("closedChat", token="new-token-bbbb")).status_code == 200
    assert client.post("/huggy/webhook", json=payload("closedChat", token="other-token-cc")).status_code == 403


@pytest.mark.parametrize("unset", [None, "", []])
def test_without_a_configured_token_deliveries_are_refused_and_the_fix_is_logged(
    make_app, payload, caplog, unset
) -> None:
    app = make_app(HUGGY_WEBHOOK_TOKEN=unset)
    fired = []
    signals.event_received.connect(lambda sender, **kw: fired.append(kw), sender=app, weak=False)

    response = app.test_client().post("/huggy/webhook", json=payload("closedChat"))

    assert response.status_code == 403
    assert response.get_json() == {
        "error": "token_not_configured",
        "message": "This endpoint has no token configured (HUGGY_WEBHOOK_TOKEN) and refuses deliveries "
        "until it has one.",
    }
    assert fired == []
    errors = [r.getMessage() for r in caplog.records if r.name == "flask_huggy" and r.levelname == "ERROR"]
    assert any("HUGGY_WEBHOOK_TOKEN is not set" in e and "HUGGY_ALLOW_UNAUTHENTICATED" in e for e in errors)
    assert TOKEN not in caplog.text


def test_allow_unauthenticated_accepts_deliveries_without_a_token_and_warns_once(make_app, payload, caplog) -> None:
    app = make_app(HUGGY_WEBHOOK_TOKEN=None, HUGGY_ALLOW_UNAUTHENTICATED=True)
    client = app.test_client()

    for _ in range(3):
        assert client.post("/huggy/webhook", json=payload("closedChat")).status_code == 200

    warnings = [r for r in caplog.records if r.name == "flask_huggy" and "WEBHOOK_TOKEN is not set" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelname == "WARNING"


def test_allow_unauthenticated_changes_nothing_once_a_token_is_set(make_app, payload) -> None:
    app = make_app(HUGGY_ALLOW_UNAUTHENTICATED=True)  # and HUGGY_WEBHOOK_TOKEN = TOKEN

    response = app.test_client().post("/huggy/webhook", json=payload("closedChat", token="0" * 32))

    assert response.status_code == 403
    assert response.get_json()["error"] == "invalid_token"


def test_every_configured_token_is_compared_in_constant_time(monkeypatch) -> None:
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append(b)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)

    assert token_matches("first-token", ["first-token", "second-token", "third-token"]) is True
    assert compared == [b"first-token", b"second-token", b"third-token"]  # no early exit on a match


def test_non_ascii_tokens_compare_without_error() -> None:
    assert token_matches("çãõ-token", ["çãõ-token"]) is True
    assert token_matches("\ud800", ["token"]) is False


def test_masking_shows_only_the_last_four_characters() -> None:
    assert mask_token("380c4e7399999999999999999999d354") == "****d354"
    assert mask_token("short") == "****"
    assert mask_token("x" * 1_000_000) == "****xxxx"
    assert mask_token(None) == "<none>"


def test_a_refused_token_is_logged_masked_and_never_echoed(client, payload, caplog) -> None:
    forged = "f0f0f0f0f0f0f0f0f0f0f0f0f0f0beef"
    caplog.set_level("DEBUG")

    response = client.post("/huggy/webhook", json=payload("closedChat", token=forged))

    assert forged not in response.get_data(as_text=True)
    assert TOKEN not in response.get_data(as_text=True)
    assert forged not in caplog.text and TOKEN not in caplog.text
    assert "****beef" in caplog.text


def test_the_delivery_repr_hides_the_token(client, recorder, payload) -> None:
    client.post("/huggy/webhook", json=payload("closedChat"))

    delivery = recorder.deliveries()[0]
    assert TOKEN not in repr(delivery)
    assert delivery.token == TOKEN


def test_control_characters_of_a_refused_token_never_reach_the_logs_raw(client, payload, caplog) -> None:
    forged = "f0f0f0f0f0f0f0f0f0f0f0f0f0\n\x1b[2J"

    client.post("/huggy/webhook", json=payload("closedChat", token=forged))

    assert "\n\x1b" not in caplog.text and "\x1b" not in caplog.text
    assert "****\\x1b[2J" in caplog.text  # the last four characters, escaped


def test_an_event_name_with_a_newline_is_logged_escaped(make_app, payload, caplog) -> None:
    app = make_app(TESTING=False)

    def crm_down(sender, event, **kw):
        raise RuntimeError("CRM down")

    signals.event_received.connect(crm_down, sender=app, weak=False)
    body = payload("closedChat")
    body["messages"] = {"closedChat\nFAKE LOG LINE": body["messages"]["closedChat"]}

    assert app.test_client().post("/huggy/webhook", json=body).status_code == 500

    assert "closedChat\\nFAKE LOG LINE" in caplog.text  # the receiver's failure is logged, its name escaped
    assert "\nFAKE LOG LINE" not in caplog.text


def test_printable_escapes_only_what_is_not_text() -> None:
    from flask_huggy.safelog import printable

    assert printable("closedChat\nFAKE") == "closedChat\\nFAKE"
    assert printable("Jo\u00e3o, caf\u00e9") == "Jo\u00e3o, caf\u00e9"
    assert printable("x" * 300, 10) == "x" * 10 + "..."
