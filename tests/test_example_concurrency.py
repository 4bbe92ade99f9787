"""The inbox under deliveries that arrive together: each stored once, no 500, nobody locked out."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import text

import example_app.receivers
from example_app import create_app
from example_app.models import SQLITE_BUSY_TIMEOUT_MS, DeliveryRecord, EventRecord, db
from example_app.store import add_delivery
from example_app.testing import serve
from flask_huggy.testing import build_delivery

from .conftest import TOKEN, load_payload


@pytest.fixture
def database(tmp_path) -> Path:
    return tmp_path / "inbox.sqlite3"


@pytest.fixture
def inbox(database) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "HUGGY_WEBHOOK_TOKEN": TOKEN,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
        }
    )


def count(app: Flask, model: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(db.select(db.func.count()).select_from(model)))


def test_twenty_identical_deliveries_at_once_are_all_accepted_and_stored_once(inbox) -> None:
    payload = load_payload("startedChat+receivedMessage")
    start = threading.Barrier(20)

    def post(url: str) -> int:
        start.wait()
        return requests.post(url, json=payload, timeout=60).status_code

    with serve(inbox) as base_url, ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(post, [base_url + "/huggy/webhook"] * 20))

    assert statuses == [200] * 20
    assert count(inbox, DeliveryRecord) == 1
    assert count(inbox, EventRecord) == 2


def test_a_delivery_stored_by_another_request_meanwhile_is_taken_as_stored(inbox, monkeypatch) -> None:
    """The race above, made certain: the other copy is stored between this one's check and its write."""

    def racing_add_delivery(delivery: Any, **kwargs: Any) -> Any:
        def other_request() -> None:
            with inbox.app_context():
                add_delivery(delivery)
                db.session.commit()

        thread = threading.Thread(target=other_request)
        thread.start()
        thread.join()
        return add_delivery(delivery, **kwargs)

    monkeypatch.setattr(example_app.receivers, "add_delivery", racing_add_delivery)

    response = inbox.test_client().post("/huggy/webhook", json=load_payload("closedChat"))

    assert response.status_code == 200
    assert count(inbox, DeliveryRecord) == 1
    assert count(inbox, EventRecord) == 1


def test_sqlite_connections_use_wal_and_wait_for_the_write_lock(inbox) -> None:
    with inbox.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == SQLITE_BUSY_TIMEOUT_MS


@pytest.fixture
def big_write(database, inbox) -> Any:
    """Another connection holding SQLite's write lock, as a big delivery being stored does."""
    holder = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute(
        "INSERT INTO inbox_deliveries (fingerprint, received_at, event_count) "
        "VALUES ('a big delivery', '2026-01-01 00:00:00', 1000)"
    )
    yield holder
    if holder.in_transaction:
        holder.execute("ROLLBACK")
    holder.close()


@pytest.mark.parametrize("url", ["/", "/events", "/status", "/updates"])
def test_pages_are_served_while_a_delivery_holds_the_write_lock(inbox, big_write, url) -> None:
    response = inbox.test_client().get(url)

    assert response.status_code == 200


def test_a_delivery_waits_for_the_write_lock_past_the_drivers_five_seconds(inbox, big_write) -> None:
    # Python's sqlite3 gives up after 5 s by default; the big write ends after 6 s.
    release = threading.Timer(6, big_write.execute, args=["COMMIT"])
    release.start()
    try:
        response = inbox.test_client().post("/huggy/webhook", json=build_delivery("closedChat", token=TOKEN))
    finally:
        release.join()

    assert response.status_code == 200
    assert count(inbox, EventRecord) == 1
