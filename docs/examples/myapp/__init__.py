"""docs/celery.rst's app: receivers run on Celery workers; tests/test_docs_examples.py runs it eagerly."""

from __future__ import annotations

from typing import Any

from celery import Celery
from flask import Flask

import flask_huggy
from flask_huggy import Delivery, Event, Huggy

huggy = Huggy()


@huggy.on("closedChat")
def on_closed(app: Flask, event: Event, delivery: Delivery, **extra: Any) -> None:
    app.extensions["closed_chats"].append(event.data["id"])  # runs on a worker: call your CRM here


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        HUGGY_WEBHOOK_TOKEN="...",
        HUGGY_DISPATCH="celery",
        HUGGY_DEDUP="redis://localhost:6379/1",
    )
    app.config.update(config or {})
    app.extensions["closed_chats"] = []
    huggy.init_app(app)

    celery = Celery(app.name, broker="redis://localhost:6379/0")
    celery.conf.worker_prefetch_multiplier = 1  # long tasks: take one at a time
    flask_huggy.init_celery(app, celery)
    app.extensions["celery"] = celery
    return app
