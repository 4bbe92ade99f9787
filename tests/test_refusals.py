"""``delivery_refused``: every refusal is told to the app, so nobody has to parse answers."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from flask_huggy import DeliveryRejected, HuggyError, Unavailable, signals

from .conftest import load_payload


@pytest.fixture
def refusals(app) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    signals.delivery_refused.connect(lambda sender, **kwargs: seen.append(kwargs), sender=app, weak=False)
    return seen


def test_a_wrong_token_is_told_with_the_error_the_answer_carries(client, refusals) -> None:
    response = client.post("/huggy/webhook", json=load_payload("closedChat", token="0" * 32))

    (refusal,) = refusals
    assert refusal["status"] == response.status_code == 403
    assert isinstance(refusal["error"], DeliveryRejected)
    assert refusal["error"].to_dict() == response.get_json()


def test_a_body_that_is_not_json_is_told(client, refusals) -> None:
    client.post("/huggy/webhook", data=b"{", content_type="application/json")

    assert [(r["status"], r["error"].error) for r in refusals] == [(400, "invalid_json")]


def test_a_method_huggy_never_uses_is_told(client, refusals) -> None:
    response = client.get("/huggy/webhook")

    assert response.status_code == 405
    assert [(r["status"], r["error"].code) for r in refusals] == [(405, 405)]
    assert response.get_json()["error"] == "method_not_allowed"


def test_werkzeugs_own_refusals_are_told_in_the_same_shape(make_app) -> None:
    app = make_app(MAX_CONTENT_LENGTH=10)  # Flask's app-wide limit, below the library's
    seen: list[HTTPException] = []
    signals.delivery_refused.connect(lambda sender, error, **kw: seen.append(error), sender=app, weak=False)

    response = app.test_client().post("/huggy/webhook", json=load_payload("closedChat"))

    assert response.status_code == 413
    assert [(type(e), e.code) for e in seen] == [(RequestEntityTooLarge, 413)]
    assert response.get_json()["error"] == "request_entity_too_large"


def test_an_unavailable_store_is_told_as_a_503(make_app, tmp_path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the journal directory should be")
    app = make_app(HUGGY_JOURNAL=str(blocked))
    seen: list[HuggyError] = []
    signals.delivery_refused.connect(lambda sender, error, **kw: seen.append(error), sender=app, weak=False)

    response = app.test_client().post("/huggy/webhook", json=load_payload("closedChat"))

    assert response.status_code == 503
    assert [(type(e), e.error) for e in seen] == [(Unavailable, "journal_unavailable")]


def test_an_accepted_delivery_is_not_a_refusal(client, refusals) -> None:
    assert client.post("/huggy/webhook", json=load_payload("closedChat")).status_code == 200
    assert refusals == []


def test_a_receiver_of_refusals_that_raises_does_not_change_the_answer(client, app, caplog) -> None:
    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("alerting is down")

    signals.delivery_refused.connect(broken, sender=app)

    response = client.post("/huggy/webhook", json=load_payload("closedChat", token="0" * 32))

    assert response.status_code == 403
    assert response.get_json()["error"] == "invalid_token"
    assert "A receiver of huggy.delivery_refused raised." in caplog.text


def test_a_receiver_that_raises_is_no_refusal(make_app) -> None:
    app = make_app(TESTING=False)
    refused: list[Any] = []
    failed: list[Any] = []
    signals.delivery_refused.connect(lambda sender, **kw: refused.append(kw), sender=app, weak=False)
    signals.receiver_failed.connect(lambda sender, **kw: failed.append(kw), sender=app, weak=False)

    def crm_down(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("the CRM is down")

    signals.closed_chat.connect(crm_down, sender=app, weak=False)

    response = app.test_client().post("/huggy/webhook", json=load_payload("closedChat"))

    assert response.status_code == 500
    assert refused == []
    assert len(failed) == 1
