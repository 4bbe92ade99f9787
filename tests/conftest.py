"""Fixtures shared by the suite: an app factory, the docs' samples, a signal recorder for the app."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

import flask_huggy
from flask_huggy.testing import SignalRecorder

PAYLOADS = Path(__file__).parent / "payloads"
TOKEN = "132ce76c7abb1154f01ebc0d508162e4"

#: Every delivery sample from Huggy's docs (the handshake excluded), by file stem.
SAMPLE_NAMES = sorted(p.stem for p in PAYLOADS.glob("*.json") if p.stem != "handshake")


def load_payload(name: str, *, token: str | None = TOKEN) -> dict[str, Any]:
    """A sample from tests/payloads/, with its token replaced by ``token`` (if given)."""
    payload: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))
    if token is not None:
        payload["token"] = token
    return payload


def create_app(**config: Any) -> Flask:
    """An app as a user builds it: the blueprint registered, config from keywords."""
    app = Flask(__name__)
    app.config.update(TESTING=True, HUGGY_WEBHOOK_TOKEN=TOKEN)
    app.config.update(config)
    # The test client's json= would sort keys; Huggy's order is the firing order.
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.register_blueprint(flask_huggy.blueprint)
    return app


@pytest.fixture
def make_app() -> Callable[..., Flask]:
    return create_app


@pytest.fixture
def app(request: pytest.FixtureRequest) -> Flask:
    """The app of ``create_app``, with the config of the test's ``@pytest.mark.config(...)``, if any.

    Settings are read once, when the webhook is registered: a test that needs
    other settings declares them, as an app declares its config before ``Huggy(app)``.
    """
    marker = request.node.get_closest_marker("config")
    return create_app(**(marker.kwargs if marker else {}))


@pytest.fixture
def payload() -> Callable[..., dict[str, Any]]:
    return load_payload


@pytest.fixture
def recorder(app: Flask) -> Iterator[SignalRecorder]:
    """Every flask-huggy signal sent by ``app``, in order: the shipped recorder, for this one app."""
    with SignalRecorder(sender=app) as recorded:
        yield recorded


def deep_copy(obj: Any) -> Any:
    return copy.deepcopy(obj)
