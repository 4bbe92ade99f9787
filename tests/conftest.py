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
from flask_huggy.catalog import CATALOG, sample_event
from flask_huggy.testing import SignalRecorder

PAYLOADS = Path(__file__).parent / "payloads"
TOKEN = "132ce76c7abb1154f01ebc0d508162e4"

#: The epoch ``time`` of the delivery each shipped sample came in, in Huggy's docs.
#: The samples (``flask_huggy/samples/``) keep the event object only; this dates
#: their offset-less stamps (closedChat's ``17:21:10`` came at 20:21:11 UTC: Brazil
#: local time). An event not listed comes at :data:`SAMPLE_TIME`.
DOCS_DELIVERY_TIMES = {
    "receivedMessage": 1524155854,
    "receivedAllMessage": 1562879079,
    "startedChat": 1631107925,
    "agentEntered": 1583439114,
    "closedChat": 1583439671,
    "createdCustomer": 1722277423,
    "startedWidgetAttendance": 1524151902,
    "sendedAllMessage": 1563279612,
    "updatedWorkflowStep": 1612806064,
    "leftQueue": 1642602560,
    "agentChangedStatus": 1644341895,
    "updatedCustomer": 1722277720,
    "newInternalMessage": 1708370297,
    "asyncExportData": 1712088961,
}
SAMPLE_TIME = 1700000000

#: Every delivery sample from Huggy's docs (the handshake excluded), by name: the
#: deliveries of tests/payloads/, and each event whose shipped sample is its own docs sample.
SAMPLE_NAMES = sorted(
    {p.stem for p in PAYLOADS.glob("*.json") if p.stem != "handshake"}
    | {spec.name for spec in CATALOG if spec.sample.source == spec.name}
)


def load_payload(name: str, *, token: str | None = TOKEN) -> dict[str, Any]:
    """A delivery from Huggy's docs, with its token replaced by ``token`` (if given).

    ``tests/payloads/<name>.json`` holds the deliveries only tests need (several
    events, a second sample, the handshake); any other ``name`` is an event, sent
    alone in a delivery around its shipped sample (``flask_huggy/samples/``).
    """
    path = PAYLOADS / f"{name}.json"
    if path.exists():
        payload: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    else:
        payload = {"time": DOCS_DELIVERY_TIMES.get(name, SAMPLE_TIME), "messages": {name: [sample_event(name)]}}
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


#: What Huggy (or anyone) might put in any slot.
ODD_VALUES: list[Any] = [
    None,
    False,
    True,
    0,
    1,
    -1,
    2,
    1.0,
    5.0,
    1.5,
    -0.0,
    1e11,
    1.5e12,
    2**64,
    10**30,
    "",
    " ",
    "0",
    "1",
    "12",
    "-3",
    "+5",
    "007",
    "1e3",
    "5.0",
    "x",
    "true",
    "False",
    "\u0663",
    "9" * 30,
    "9" * 31,
    "2020-03-05",
    "2020-03-05 17:21:10",
    "2020-03-05T17:21:10+02:00",
    "2020-13-45 00:00:00",
    [],
    {},
    [1],
    [False],
    [None],
    [{}],
    {"id": "1"},
    {"": False},
]


def changed(event: dict[str, Any], path: tuple[Any, ...], value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    """A deep copy of ``event`` with the slot at ``path`` set to ``value``, or deleted."""
    copied = copy.deepcopy(event)
    container: Any = copied
    for key in path[:-1]:
        container = container[key]
    if delete:
        del container[path[-1]]
    else:
        container[path[-1]] = copy.deepcopy(value)
    return copied
