"""Huggy's URL check: the library confirms the token with a request of its own."""

from __future__ import annotations

import json
import time

import pytest
import requests
import responses

from flask_huggy import signals
from flask_huggy.config import DEFAULT_CONFIRM_URL

from .conftest import TOKEN, load_payload

HANDSHAKE = load_payload("handshake", token=None)
HUGGY_TOKEN = HANDSHAKE["token"]


@pytest.fixture
def huggy():
    """Huggy's side of the handshake, answered by `responses`."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def confirmed(app):
    tokens = []

    @signals.token_validated.connect_via(app)
    def on_validated(app, token, **extra):
        tokens.append(token)

    return tokens


def test_handshake_sends_the_token_to_huggy_and_answers_200(client, app, huggy, confirmed) -> None:
    app.config["HUGGY_WEBHOOK_TOKEN"] = HUGGY_TOKEN
    huggy.post(DEFAULT_CONFIRM_URL, json={"ok": True})

    response = client.post("/huggy/webhook", json=HANDSHAKE)

    assert response.status_code == 200
    assert response.get_json() == {"status": "confirmed", "token": HUGGY_TOKEN}
    (call,) = huggy.calls
    assert json.loads(call.request.body) == {"token": HUGGY_TOKEN}
    assert call.request.headers["User-Agent"].startswith("flask-huggy/")
    assert confirmed == [HUGGY_TOKEN]


def test_handshake_goes_to_the_configured_url_never_one_from_the_payload(client, app, huggy) -> None:
    app.config.update(HUGGY_WEBHOOK_TOKEN=HUGGY_TOKEN, HUGGY_CONFIRM_URL="https://huggy.example/confirm")
    huggy.post("https://huggy.example/confirm")

    body = {**HANDSHAKE, "url": "https://attacker.example/", "confirmUrl": "https://attacker.example/"}
    response = client.post("/huggy/webhook", json=body)

    assert response.status_code == 200
    assert [c.request.url for c in huggy.calls] == ["https://huggy.example/confirm"]


def test_handshake_with_another_token_is_refused_without_calling_huggy(client, huggy, confirmed) -> None:
    response = client.post("/huggy/webhook", json=HANDSHAKE)  # the app is configured with TOKEN

    assert response.status_code == 403
    assert response.get_json()["error"] == "invalid_token"
    assert HUGGY_TOKEN not in response.get_data(as_text=True)
    assert len(huggy.calls) == 0
    assert confirmed == []


def test_first_setup_without_a_token_confirms_and_warns(make_app, huggy, caplog) -> None:
    app = make_app(HUGGY_WEBHOOK_TOKEN=None)
    huggy.post(DEFAULT_CONFIRM_URL)

    response = app.test_client().post("/huggy/webhook", json=HANDSHAKE)

    assert response.status_code == 200
    assert len(huggy.calls) == 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "flask_huggy" and r.levelname == "WARNING"]
    assert any("HUGGY_WEBHOOK_TOKEN is unset" in w for w in warnings)
    assert all(HUGGY_TOKEN not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("status", [400, 401, 404, 500, 503])
def test_huggy_refusing_the_confirmation_is_a_502_and_nothing_fires(client, app, huggy, confirmed, status) -> None:
    app.config["HUGGY_WEBHOOK_TOKEN"] = HUGGY_TOKEN
    huggy.post(DEFAULT_CONFIRM_URL, status=status)

    response = client.post("/huggy/webhook", json=HANDSHAKE)

    assert response.status_code == 502
    assert response.get_json() == {
        "error": "confirmation_refused",
        "message": f"Huggy answered the confirmation request with HTTP {status}.",
        "huggy_status": status,
    }
    assert confirmed == []


def test_a_redirect_from_huggy_is_not_followed(client, app, huggy) -> None:
    app.config["HUGGY_WEBHOOK_TOKEN"] = HUGGY_TOKEN
    huggy.post(DEFAULT_CONFIRM_URL, status=302, headers={"Location": "https://elsewhere.example/"})

    response = client.post("/huggy/webhook", json=HANDSHAKE)

    assert response.status_code == 502
    assert [c.request.url for c in huggy.calls] == [DEFAULT_CONFIRM_URL]


def test_huggy_timing_out_is_a_504(client, app, huggy, confirmed) -> None:
    app.config["HUGGY_WEBHOOK_TOKEN"] = HUGGY_TOKEN
    huggy.post(DEFAULT_CONFIRM_URL, body=requests.ReadTimeout("read timed out"))

    response = client.post("/huggy/webhook", json=HANDSHAKE)

    assert response.status_code == 504
    assert response.get_json()["error"] == "huggy_timeout"
    assert len(huggy.calls) == 1  # a timeout is not retried: Huggy may have seen it
    assert confirmed == []


def test_connection_errors_are_retried_a_bounded_number_of_times_then_502(client, app, huggy) -> None:
    app.config.update(HUGGY_WEBHOOK_TOKEN=HUGGY_TOKEN, HUGGY_CONFIRM_RETRIES=2)
    huggy.post(DEFAULT_CONFIRM_URL, body=requests.ConnectionError("refused"))

    started = time.monotonic()
    response = client.post("/huggy/webhook", json=HANDSHAKE)

    assert response.status_code == 502
    assert response.get_json()["error"] == "huggy_unreachable"
    assert len(huggy.calls) == 3
    assert time.monotonic() - started < 30


def test_a_connection_error_then_success_confirms(client, app, huggy, confirmed) -> None:
    app.config["HUGGY_WEBHOOK_TOKEN"] = HUGGY_TOKEN
    huggy.post(DEFAULT_CONFIRM_URL, body=requests.ConnectionError("refused"))
    huggy.post(DEFAULT_CONFIRM_URL, status=200)

    response = client.post("/huggy/webhook", json=HANDSHAKE)

    assert response.status_code == 200
    assert len(huggy.calls) == 2
    assert confirmed == [HUGGY_TOKEN]


def test_the_confirmation_request_is_bounded_by_the_configured_timeout(app, client, monkeypatch) -> None:
    app.config.update(HUGGY_WEBHOOK_TOKEN=HUGGY_TOKEN, HUGGY_CONFIRM_TIMEOUT=1.5)
    seen = {}

    def fake_post(url, **kwargs):
        seen.update(kwargs)
        raise requests.ConnectTimeout("slow")

    monkeypatch.setattr(requests, "post", fake_post)

    response = client.post("/huggy/webhook", json=HANDSHAKE)

    assert seen["timeout"] == 1.5
    assert seen["allow_redirects"] is False
    assert response.status_code == 504


@pytest.mark.parametrize(
    "body, code",
    [
        ({"validToken": True}, "missing_token"),
        ({"validToken": True, "token": ""}, "missing_token"),
        ({"validToken": True, "token": 12345}, "missing_token"),
        ({"validToken": False, "token": TOKEN}, "invalid_handshake"),
        ({"validToken": "yes", "token": TOKEN}, "invalid_handshake"),
    ],
)
def test_malformed_handshakes_are_400_without_calling_huggy(client, huggy, body, code) -> None:
    response = client.post("/huggy/webhook", json=body)

    assert response.status_code == 400
    assert response.get_json()["error"] == code
    assert len(huggy.calls) == 0


def test_the_endpoint_remembers_when_the_handshake_was_confirmed(client, app, huggy) -> None:
    from flask_huggy import endpoint_state

    app.config["HUGGY_WEBHOOK_TOKEN"] = HUGGY_TOKEN
    huggy.post(DEFAULT_CONFIRM_URL, status=500)
    client.post("/huggy/webhook", json=HANDSHAKE)
    assert endpoint_state(app).last_handshake_error["error"] == "confirmation_refused"
    assert endpoint_state(app).confirmed_at is None

    huggy.replace(responses.POST, DEFAULT_CONFIRM_URL, status=200)
    client.post("/huggy/webhook", json=HANDSHAKE)
    assert endpoint_state(app).confirmed_at is not None
    assert endpoint_state(app).last_handshake_error is None


def test_tokens_never_reach_the_logs_whole_during_a_failed_handshake(client, app, huggy, caplog) -> None:
    app.config["HUGGY_WEBHOOK_TOKEN"] = [TOKEN, HUGGY_TOKEN]
    huggy.post(DEFAULT_CONFIRM_URL, status=503)
    caplog.set_level("DEBUG")

    client.post("/huggy/webhook", json=HANDSHAKE)

    assert caplog.records, "the failure is logged"
    assert HUGGY_TOKEN not in caplog.text
    assert HUGGY_TOKEN[-4:] in caplog.text  # masked, but recognisable
