"""Huggy's URL check: the webhook prints the token, then sends the confirmation request.

Huggy's help pages say the URL validates once the page "prints the token"; its
current docs add a request back to Huggy whose endpoint nobody publishes. So the
answer is the token itself, always, and the request goes out after the answer
has left (``with client.post(...)`` closes the response, as a server does), on a
background thread (``confirmations.join()`` waits for it).
"""

from __future__ import annotations

import json
import logging

import pytest
import requests
import responses

from flask_huggy import signals
from flask_huggy.config import DEFAULT_CONFIRM_URL
from flask_huggy.endpoint import get_endpoint
from flask_huggy.handshake import CONFIRM_RETRIES, CONFIRM_TIMEOUT, confirmations

from .conftest import TOKEN, load_payload

HANDSHAKE = load_payload("handshake", token=None)
HUGGY_TOKEN = HANDSHAKE["token"]


@pytest.fixture
def huggy():
    """Huggy's side of the confirmation request, answered by `responses`."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def validated(app):
    """``(token, confirmed)`` of every ``token_validated`` the app sends."""
    calls = []

    @signals.token_validated.connect_via(app)
    def on_validated(app, token, confirmed, **extra):
        calls.append((token, confirmed))

    return calls


@pytest.fixture
def app(make_app, request):
    marker = request.node.get_closest_marker("config")
    return make_app(**{"HUGGY_WEBHOOK_TOKEN": HUGGY_TOKEN, **(marker.kwargs if marker else {})})


def post_handshake(client, body=HANDSHAKE):
    """Post a handshake as Huggy does, and wait for the confirmation sent off the request's thread."""
    with client.post("/huggy/webhook", json=body) as response:
        pass
    confirmations.join()
    return response


def assert_prints_the_token(response, token=HUGGY_TOKEN) -> None:
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_data() == token.encode("utf-8")  # exactly: no JSON, no newline


def test_handshake_answers_with_the_token_then_confirms_it(client, huggy, validated) -> None:
    huggy.post(DEFAULT_CONFIRM_URL, json={"ok": True})

    response = post_handshake(client)

    assert_prints_the_token(response)
    (call,) = huggy.calls
    assert json.loads(call.request.body) == {"token": HUGGY_TOKEN}
    assert call.request.headers["User-Agent"].startswith("flask-huggy/")
    assert validated == [(HUGGY_TOKEN, True)]


def test_the_confirmation_request_waits_until_the_answer_is_closed(client, huggy, validated) -> None:
    huggy.post(DEFAULT_CONFIRM_URL)

    response = client.post("/huggy/webhook", json=HANDSHAKE)
    assert_prints_the_token(response)
    assert (len(huggy.calls), validated) == (0, [])

    response.close()  # what a WSGI server does once the answer is sent
    confirmations.join()
    assert len(huggy.calls) == 1
    assert validated == [(HUGGY_TOKEN, True)]


@pytest.mark.parametrize(
    "huggy_answer",
    [
        {"status": 200},
        {"status": 404},
        {"status": 401},
        {"status": 500},
        {"status": 302, "headers": {"Location": "https://elsewhere.example/"}},
        {"body": requests.ConnectionError("refused")},
        {"body": requests.ReadTimeout("read timed out")},
    ],
    ids=["200", "404", "401", "500", "redirect", "refused", "timeout"],
)
def test_the_answer_is_the_token_whatever_becomes_of_the_confirmation(make_app, huggy, huggy_answer) -> None:
    app = make_app(HUGGY_WEBHOOK_TOKEN=HUGGY_TOKEN)
    huggy.post(DEFAULT_CONFIRM_URL, **huggy_answer)
    confirmed = []
    signals.token_validated.connect(lambda sender, **kw: confirmed.append(kw["confirmed"]), sender=app, weak=False)

    response = post_handshake(app.test_client())

    assert_prints_the_token(response)
    # Sent once (redirects not followed); only a refused connection, which reached nobody, is tried again.
    sent = 1 + CONFIRM_RETRIES if isinstance(huggy_answer.get("body"), requests.ConnectionError) else 1
    assert [c.request.url for c in huggy.calls] == [DEFAULT_CONFIRM_URL] * sent
    assert confirmed == [huggy_answer.get("status") == 200]
    assert get_endpoint(app).confirmed is confirmed[0]


@pytest.mark.parametrize("switched_off", [None, "", False])
def test_the_confirmation_request_can_be_switched_off(make_app, huggy, switched_off) -> None:
    app = make_app(HUGGY_WEBHOOK_TOKEN=HUGGY_TOKEN, HUGGY_CONFIRM_URL=switched_off)
    confirmed = []
    signals.token_validated.connect(lambda sender, **kw: confirmed.append(kw["confirmed"]), sender=app, weak=False)

    response = post_handshake(app.test_client())

    assert_prints_the_token(response)
    assert len(huggy.calls) == 0
    assert confirmed == [None]
    assert get_endpoint(app).confirmed is None
    assert get_endpoint(app).handshake_at is not None


def test_confirm_headers_are_added_to_the_confirmation_request(make_app, huggy) -> None:
    app = make_app(HUGGY_WEBHOOK_TOKEN=HUGGY_TOKEN, HUGGY_CONFIRM_HEADERS={"Authorization": "Bearer app-token"})
    huggy.post(DEFAULT_CONFIRM_URL)

    post_handshake(app.test_client())

    (call,) = huggy.calls
    assert call.request.headers["Authorization"] == "Bearer app-token"
    assert call.request.headers["User-Agent"].startswith("flask-huggy/")


@pytest.mark.config(HUGGY_CONFIRM_URL="https://huggy.example/confirm")
def test_handshake_goes_to_the_configured_url_never_one_from_the_payload(client, app, huggy) -> None:
    huggy.post("https://huggy.example/confirm")

    body = {**HANDSHAKE, "url": "https://attacker.example/", "confirmUrl": "https://attacker.example/"}
    response = post_handshake(client, body)

    assert_prints_the_token(response)
    assert [c.request.url for c in huggy.calls] == ["https://huggy.example/confirm"]


def test_handshake_with_another_token_is_refused_and_nothing_is_printed_or_sent(make_app, huggy) -> None:
    app = make_app()  # configured with TOKEN, not Huggy's sample token
    validated = []
    signals.token_validated.connect(lambda sender, **kw: validated.append(kw), sender=app, weak=False)

    response = post_handshake(app.test_client())

    assert response.status_code == 403
    assert response.get_json()["error"] == "invalid_token"
    assert HUGGY_TOKEN not in response.get_data(as_text=True)
    assert len(huggy.calls) == 0
    assert validated == []


def test_first_setup_without_a_token_prints_it_and_says_what_to_configure(make_app, huggy, caplog) -> None:
    app = make_app(HUGGY_WEBHOOK_TOKEN=None)
    huggy.post(DEFAULT_CONFIRM_URL)

    response = post_handshake(app.test_client())

    assert_prints_the_token(response)
    assert len(huggy.calls) == 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "flask_huggy" and r.levelname == "WARNING"]
    assert any("HUGGY_WEBHOOK_TOKEN is unset" in w and "****" + HUGGY_TOKEN[-4:] in w for w in warnings)
    assert all(HUGGY_TOKEN not in r.getMessage() for r in caplog.records)


def test_the_confirmation_goes_through_the_endpoints_own_session_when_it_has_one(app, huggy) -> None:
    session = requests.Session()
    session.headers["X-Through"] = "the endpoint's session"
    get_endpoint(app).http = session
    huggy.post(DEFAULT_CONFIRM_URL)

    post_handshake(app.test_client())

    (call,) = huggy.calls
    assert call.request.headers["X-Through"] == "the endpoint's session"
    assert json.loads(call.request.body) == {"token": HUGGY_TOKEN}
    assert get_endpoint(app).confirmed is True


def test_connection_errors_are_retried_a_bounded_number_of_times(make_app, huggy) -> None:
    app = make_app(HUGGY_WEBHOOK_TOKEN=HUGGY_TOKEN)
    huggy.post(DEFAULT_CONFIRM_URL, body=requests.ConnectionError("refused"))

    response = post_handshake(app.test_client())

    assert_prints_the_token(response)
    assert len(huggy.calls) == 1 + CONFIRM_RETRIES == 3
    assert get_endpoint(app).last_handshake_error["error"] == "huggy_unreachable"


def test_a_timeout_is_not_retried(client, app, huggy) -> None:
    huggy.post(DEFAULT_CONFIRM_URL, body=requests.ReadTimeout("read timed out"))

    post_handshake(client)

    assert len(huggy.calls) == 1  # Huggy may have seen it
    assert get_endpoint(app).last_handshake_error["error"] == "huggy_timeout"


def test_a_connection_error_then_success_confirms(client, huggy, validated) -> None:
    huggy.post(DEFAULT_CONFIRM_URL, body=requests.ConnectionError("refused"))
    huggy.post(DEFAULT_CONFIRM_URL, status=200)

    post_handshake(client)

    assert len(huggy.calls) == 2
    assert validated == [(HUGGY_TOKEN, True)]


def test_the_confirmation_request_is_bounded_by_a_timeout(app, client, monkeypatch) -> None:
    seen = {}

    def fake_post(url, **kwargs):
        seen.update(kwargs)
        raise requests.ConnectTimeout("slow")

    monkeypatch.setattr(requests, "post", fake_post)

    response = post_handshake(client)

    assert_prints_the_token(response)
    assert seen["timeout"] == CONFIRM_TIMEOUT == 5.0
    assert seen["allow_redirects"] is False


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
    response = post_handshake(client, body)

    assert response.status_code == 400
    assert response.get_json()["error"] == code
    assert len(huggy.calls) == 0


def test_the_endpoint_remembers_the_outcome_of_the_confirmation(client, app, huggy) -> None:
    huggy.post(DEFAULT_CONFIRM_URL, status=500)
    post_handshake(client)
    state = get_endpoint(app)
    assert (state.confirmed, state.confirmed_at) == (False, None)
    assert state.last_handshake_error["error"] == "confirmation_refused"
    assert state.last_handshake_error["huggy_status"] == 500

    huggy.replace(responses.POST, DEFAULT_CONFIRM_URL, status=200)
    post_handshake(client)
    assert state.confirmed is True
    assert state.confirmed_at is not None
    assert state.last_handshake_error is None


def test_a_receiver_raising_after_the_answer_is_logged_not_raised(client, app, huggy, caplog) -> None:
    huggy.post(DEFAULT_CONFIRM_URL)

    def broken(sender, **extra):
        raise RuntimeError("receiver bug")

    signals.token_validated.connect(broken, sender=app)
    try:
        response = post_handshake(client)
    finally:
        signals.token_validated.disconnect(broken, sender=app)

    assert_prints_the_token(response)
    assert any(r.levelno == logging.ERROR and "token_validated" in r.getMessage() for r in caplog.records)


def test_the_printed_token_is_never_sniffed_as_html(make_app, huggy) -> None:
    app = make_app(HUGGY_WEBHOOK_TOKEN=None, HUGGY_CONFIRM_URL=None)
    body = {"token": "<script>alert(1)</script>", "validToken": True}

    response = post_handshake(app.test_client(), body)

    assert response.mimetype == "text/plain"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.config(HUGGY_WEBHOOK_TOKEN=[TOKEN, HUGGY_TOKEN])
def test_tokens_never_reach_the_logs_whole_during_a_failed_confirmation(client, app, huggy, caplog) -> None:
    huggy.post(DEFAULT_CONFIRM_URL, status=503)
    caplog.set_level("DEBUG")

    post_handshake(client)

    assert any("failed" in r.getMessage() for r in caplog.records), "the failure is logged"
    assert HUGGY_TOKEN not in caplog.text
    assert HUGGY_TOKEN[-4:] in caplog.text  # masked, but recognisable


def test_a_handshake_token_longer_than_256_characters_is_refused_unprinted(make_app, huggy) -> None:
    app = make_app(HUGGY_WEBHOOK_TOKEN=None)
    token = "x" * 257

    response = post_handshake(app.test_client(), {"token": token, "validToken": True})

    assert response.status_code == 400
    assert response.get_json()["error"] == "token_too_long"
    assert token not in response.get_data(as_text=True)
    assert len(huggy.calls) == 0
    assert post_handshake(app.test_client(), {"token": "x" * 256, "validToken": True}).status_code == 200


def test_without_a_configured_token_300_handshakes_with_different_tokens_confirm_at_most_once(make_app, huggy) -> None:
    app = make_app(HUGGY_WEBHOOK_TOKEN=None)
    huggy.post(DEFAULT_CONFIRM_URL)
    client = app.test_client()

    for number in range(300):
        token = f"flood-{number:04d}-0123456789abcdef0123"
        response = post_handshake(client, {"token": token, "validToken": True})
        assert_prints_the_token(response, token)  # the answer never changes

    assert [json.loads(c.request.body)["token"] for c in huggy.calls] == ["flood-0000-0123456789abcdef0123"]


def test_a_configured_endpoint_confirms_every_handshake_of_its_own_token(client, huggy) -> None:
    huggy.post(DEFAULT_CONFIRM_URL)

    for _ in range(3):
        post_handshake(client)

    assert len(huggy.calls) == 3  # only the right token gets this far: nothing to limit
