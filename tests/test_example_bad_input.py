"""Bad input reaching the inbox's webhook leaves its database exactly as it was."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from example_app import create_app
from example_app.models import db
from flask_huggy.testing import build_delivery, build_event, build_handshake

from .conftest import TOKEN, load_payload


@pytest.fixture
def inbox(tmp_path) -> Flask:
    app = create_app(
        {
            "TESTING": True,
            "HUGGY_WEBHOOK_TOKEN": TOKEN,
            "HUGGY_MAX_CONTENT_LENGTH": 64 * 1024,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'inbox.sqlite3'}",
        }
    )
    # Something already stored, so that "unchanged" is not just "empty".
    assert post(app, load_payload("startedChat+receivedMessage")).status_code == 200
    return app


def post(app: Flask, body: Any, **kwargs: Any) -> TestResponse:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return app.test_client().post("/huggy/webhook", data=data, content_type="application/json", **kwargs)


def database_contents(app: Flask) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the inbox, in order."""
    with app.app_context():
        return {
            table.name: [tuple(row) for row in db.session.execute(table.select().order_by(*table.primary_key.columns))]
            for table in db.metadata.sorted_tables
        }


def _same_inbox(app: Flask, **config: Any) -> Flask:
    """Another instance of the inbox on the same database, with other webhook settings (read at startup)."""
    return create_app({**app.config, **config})


def _strict(app: Flask) -> TestResponse:
    return post(
        _same_inbox(app, HUGGY_STRICT=True), build_delivery(build_event("closedChat", closed_at=[1]), token=TOKEN)
    )


def _stale(app: Flask) -> TestResponse:
    return post(_same_inbox(app, HUGGY_MAX_AGE=300), load_payload("closedChat"))  # stamped in 2020


def _foreign_source(app: Flask) -> TestResponse:
    return post(_same_inbox(app, HUGGY_ALLOWED_NETWORKS="203.0.113.0/24"), load_payload("closedChat"))


BAD_INPUT: dict[str, tuple[Callable[[Flask], TestResponse], int]] = {
    "wrong token": (lambda app: post(app, load_payload("closedChat", token="not-the-token-at-all")), 403),
    "no token": (lambda app: post(app, build_delivery("closedChat", token=None)), 403),
    "empty body": (lambda app: post(app, b""), 400),
    "not JSON": (lambda app: post(app, b"token=x&messages=y"), 400),
    "not UTF-8": (lambda app: post(app, b'{"token": "\xff"}'), 400),
    "a JSON list": (lambda app: post(app, [load_payload("closedChat")]), 400),
    "messages not a mapping": (lambda app: post(app, {"token": TOKEN, "time": 1, "messages": ["closedChat"]}), 400),
    "a repeated key": (lambda app: post(app, f'{{"token": "{TOKEN}", "messages": {{}}, "messages": {{}}}}'), 400),
    "too large": (
        lambda app: post(app, build_delivery(build_event("receivedMessage", body="x" * 70_000), token=TOKEN)),
        413,
    ),
    "invalid event, strict": (_strict, 422),
    "stale delivery": (_stale, 403),
    "source outside the allowed networks": (_foreign_source, 403),
    "handshake with a wrong token": (lambda app: post(app, build_handshake("not-the-token-at-all")), 403),
    "GET": (lambda app: app.test_client().get("/huggy/webhook"), 405),
}


@pytest.mark.parametrize("send, status", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_leaves_the_database_unchanged(inbox, send, status) -> None:
    before = database_contents(inbox)

    assert send(inbox).status_code == status

    assert database_contents(inbox) == before


def test_a_refused_delivery_shows_as_the_last_error_on_the_status_page(inbox) -> None:
    post(inbox, load_payload("closedChat", token="not-the-token-at-all"))

    page = inbox.test_client().get("/status").get_data(as_text=True)

    assert "Webhook refused a request (HTTP 403)" in page
    assert "invalid_token" in page
