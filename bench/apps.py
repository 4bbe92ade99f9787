"""The two WSGI apps that ``webhook_throughput.py`` serves with gunicorn.

``bare`` is the floor: Flask routing plus ``request.get_json(force=True)`` and a
small JSON answer, i.e. what any hand-written webhook view pays anyway.
``huggy`` is a user's app: :data:`flask_huggy.blueprint` registered, a token
configured, and one cheap receiver, so every event is validated and its signal
sent, as it would be in production. The ratio of the two throughputs is the
cost of flask-huggy's token check, envelope parsing, validation and dispatch.

Both apps get the same ``after_request`` hook adding ``X-Bench-Worker`` (the
worker's pid): the load generator uses it to spread its keep-alive connections
over all gunicorn workers. It costs both apps the same, so it cancels out.

The token(s) come from the environment (``BENCH_HUGGY_TOKENS``, comma
separated) because gunicorn imports this module in its own processes: the
samples from Huggy's docs each carry their own token and are sent verbatim.

With ``BENCH_HUGGY_NO_EXTRAS`` set, jiter cannot be imported in this process, as
in the default install (no ``fast`` extra): ``HUGGY_JSON_DECODER = "auto"`` then
reads bodies with the standard library's ``json``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

#: Environment variable holding the token(s) the ``huggy`` app accepts.
TOKENS_ENV = "BENCH_HUGGY_TOKENS"
#: Environment variable holding the ``huggy`` app's ``HUGGY_JSON_DECODER``.
DECODER_ENV = "BENCH_HUGGY_JSON_DECODER"
#: Environment variable that, when non-empty, hides jiter (the default install, without extras).
NO_EXTRAS_ENV = "BENCH_HUGGY_NO_EXTRAS"

if os.environ.get(NO_EXTRAS_ENV):
    # Before flask_huggy is imported: a None entry makes "import jiter" raise ImportError.
    sys.modules["jiter"] = None  # type: ignore[assignment]

from flask import Flask, Response, jsonify, request  # noqa: E402 - after hiding jiter

import flask_huggy  # noqa: E402
from flask_huggy import Delivery, Event, signals  # noqa: E402

#: Where ``bare`` listens; the same path as the blueprint's, so routing costs match.
WEBHOOK_PATH = "/huggy/webhook"


def _tag_worker(response: Response) -> Response:
    """Say which gunicorn worker answered (see the module docstring)."""
    response.headers["X-Bench-Worker"] = str(os.getpid())
    return response


def create_bare() -> Flask:
    """The baseline: parse the JSON body, answer a small JSON 200."""
    app = Flask("bench_bare")

    @app.post(WEBHOOK_PATH)
    def webhook() -> Response:
        payload = request.get_json(force=True)
        return jsonify(status="accepted", keys=len(payload))

    app.after_request(_tag_worker)
    return app


def _read_id(app: Flask, event: Event, delivery: Delivery, **extra: Any) -> object:
    """The cheapest realistic receiver: look one validated field up.

    ``receivedAllMessage`` has an ``id``; the flow events identify themselves by
    ``chatID``. A missing key raises, which flask-huggy turns into a 5xx: the
    benchmark counts it as a non-200, so a receiver that never got validated
    data cannot go unnoticed.
    """
    data = event.data
    return data["id"] if "id" in data else data["chatID"]


def create_huggy(tokens: str | None = None) -> Flask:
    """flask-huggy as a user sets it up, with one receiver on the benchmarked events."""
    app = Flask("bench_huggy")
    raw = os.environ.get(TOKENS_ENV, "") if tokens is None else tokens
    app.config["HUGGY_WEBHOOK_TOKEN"] = tuple(t for t in raw.split(",") if t) or None
    # The load generator posts the same delivery over and over: deduplication
    # would skip all but the first and measure nothing. Off is the default;
    # this keeps it so.
    app.config["HUGGY_DEDUP"] = False
    app.config["HUGGY_JSON_DECODER"] = os.environ.get(DECODER_ENV, "auto")
    app.register_blueprint(flask_huggy.blueprint)
    for signal in (signals.received_all_message, signals.started_automation_flow, signals.finished_automation_flow):
        signal.connect_via(app)(_read_id)
    app.after_request(_tag_worker)
    return app


bare = create_bare()
huggy = create_huggy()
