"""docs/celery.rst's app: receivers run on Celery workers; tests/test_docs_examples.py runs it eagerly."""

from __future__ import annotations

from typing import Any

from celery import Celery
from flask import Flask

from flask_huggy import Delivery, Event, Huggy

celery = Celery(__name__)
huggy = Huggy(celery=celery)  # the webhook queues each delivery; Celery workers run the receivers


@huggy.on("closedChat")
def on_closed(app: Flask, event: Event, delivery: Delivery, **extra: Any) -> None:
    app.extensions["closed_chats"].append(event.data["id"])  # runs on a worker: call your CRM here


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        HUGGY_WEBHOOK_TOKEN="...",
        HUGGY_DEDUP="redis://localhost:6379/1",
        CELERY_BROKER_URL="redis://localhost:6379/0",
    )
    app.config.update(config or {})
    app.extensions["closed_chats"] = []
    celery.conf.update(
        broker_url=app.config["CELERY_BROKER_URL"],
        worker_prefetch_multiplier=1,  # long tasks: take one at a time
    )
    huggy.init_app(app)
    app.extensions["celery"] = celery
    return app
