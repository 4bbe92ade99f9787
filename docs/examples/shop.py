"""The quick start's app: an app factory, the extension and three receivers, one of which replies.

docs/quickstart.rst shows it as shop.py; tests/test_docs_examples.py saves it,
conftest.py and test_shop.py under the names shown, and runs that suite there.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from flask_huggy import Delivery, Event, Huggy


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_prefixed_env()  # FLASK_HUGGY_WEBHOOK_TOKEN, FLASK_HUGGY_API_TOKEN: from Huggy's panel
    app.config.update(config or {})
    app.extensions["closed_chats"] = []
    huggy = Huggy(app)  # POST /huggy/webhook

    @huggy.on("closedChat")
    def on_closed(app: Flask, event: Event, delivery: Delivery, **extra: Any) -> None:
        app.extensions["closed_chats"].append(event.data["id"])

    @huggy.on("receivedMessage")  # a customer wrote while the chat waits in the queue
    def acknowledge(app: Flask, event: Event, delivery: Delivery, **extra: Any) -> None:
        event.reply("Recebido! Um agente já vai te atender.")  # into its chat; once, with HUGGY_DEDUP

    @huggy.on(None)  # every event, known or not
    def log_everything(app: Flask, event: Event, delivery: Delivery, **extra: Any) -> None:
        app.logger.info("Huggy sent %s", event.name)

    return app
