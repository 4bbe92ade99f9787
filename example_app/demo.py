""" "Try it without Huggy": a realistic conversation posted to the inbox's own webhook.

The conversation is the inbox's own data (``conversation.json``, next to this
file): two chats of a small shop, made once from the samples of Huggy's docs,
with placeholders for the ids and times that each run fills in. It goes through
the same door as Huggy's deliveries: a POST to ``/huggy/webhook`` with the
token, checked and dispatched by the real blueprint. Two ways to start it:

- the button on every page (``POST /demo``), which posts from a background
  thread through the app itself (its WSGI stack, in-process), so the pages fill
  up live;
- ``flask --app example_app huggy-demo`` from a terminal, through the app
  itself too, into the same database; ``--url`` posts to a running inbox over
  HTTP instead.

The button never chooses an address: nothing it does depends on the ``Host``
header or on the socket the server listens on, so a request cannot send the
demo, and the token it carries, anywhere else. Only an operator picks a URL,
by typing it after ``--url``.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any

import click
import requests
from flask import Flask, current_app

from .state import DemoRun, inbox_state
from .webhook import huggy, own_host, webhook_path

logger = logging.getLogger("example_app")

#: The conversation, with placeholders (see the file's ``about``).
CONVERSATION_FILE = Path(__file__).with_name("conversation.json")
#: The demo shop's Huggy account: the only company the conversation names.
COMPANY_ID = 15691
#: Seconds to wait for a running inbox to answer one delivery (``--url``).
TIMEOUT = 10.0
#: The token the demo signs with when the inbox has none configured (and so takes any).
PLACEHOLDER_TOKEN = "5a4d1f0c8e2b47a9b3c6d0e1f2a3b4c5"
#: How Huggy writes its own timestamps (``send_at``, ``closed_at``): wall-clock time, no offset.
LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

_PLACEHOLDER = re.compile(r"\{\{(\w+)(\|string)?\}\}")

#: Posts one delivery and gives the webhook's answer: its HTTP status, and its JSON body if it is an object.
Send = Callable[[Mapping[str, Any]], tuple[int, Mapping[str, Any] | None]]


@dataclass(frozen=True)
class Step:
    """One delivery of the conversation, and what it shows."""

    caption: str
    #: As Huggy posts them: event name -> its events, in firing order. Ids are
    #: this run's; times are still ``{{now}}`` (:func:`delivery` stamps them).
    messages: Mapping[str, list[dict[str, Any]]]
    #: Ids of the chats the step is about (the placeholders named ``*_chat``): made up,
    #: so a chat page's buttons send to the inbox's fake API, never to Huggy.
    chats: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        """Each event's name, in firing order."""
        return [name for name, events in self.messages.items() for _ in events]


def conversation() -> list[Step]:
    """Two chats, as Huggy would report them: Maria's on WhatsApp, from first message
    to closing with a tabulation, and Carlos's on Huggy Chat, still waiting for an agent.

    Ids are fresh on each call, so running the demo again adds two new chats.
    """
    steps = _load()
    names = sorted({name for step in steps for name in _placeholders(step["messages"])} - {"now"})
    # Eight digits, as in Huggy's samples; distinct, so that two chats never share one.
    ids: dict[str, Any] = dict(zip(names, random.sample(range(10_000_000, 100_000_000), len(names))))
    return [
        Step(
            step["caption"],
            _fill(step["messages"], ids),
            tuple(str(ids[name]) for name in sorted(set(_placeholders(step["messages"]))) if name.endswith("_chat")),
        )
        for step in steps
    ]


def delivery(step: Step, token: str, *, zone: tzinfo, at: float | None = None) -> dict[str, Any]:
    """``step`` as the delivery Huggy would post at ``at`` (default: now), signed with ``token``.

    Huggy's own timestamps in the events say the same instant as the
    delivery's ``time``, in ``zone`` (``HUGGY_TIMEZONE``), as Huggy writes them.
    """
    epoch = int(time.time()) if at is None else at
    now = datetime.fromtimestamp(epoch, zone).strftime(LOCAL_TIME_FORMAT)
    return {"time": epoch, "messages": _fill(step.messages, {"now": now}), "token": token}


@lru_cache(maxsize=1)
def _load() -> list[dict[str, Any]]:
    # Read once; never handed out: _fill makes each run its own copy.
    steps: list[dict[str, Any]] = json.loads(CONVERSATION_FILE.read_text(encoding="utf-8"))["steps"]
    return steps


def _placeholders(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _placeholders(value)
    elif isinstance(node, list):
        for value in node:
            yield from _placeholders(value)
    elif isinstance(node, str) and (match := _PLACEHOLDER.fullmatch(node)):
        yield match[1]


def _fill(node: Any, values: Mapping[str, Any]) -> Any:
    """A copy of ``node`` with each placeholder named in ``values`` replaced; ``|string`` gives text."""
    if isinstance(node, dict):
        return {key: _fill(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_fill(value, values) for value in node]
    if isinstance(node, str) and (match := _PLACEHOLDER.fullmatch(node)) and match[1] in values:
        value = values[match[1]]
        return str(value) if match[2] else value
    return node


# --- posting --------------------------------------------------------------------------------


def through_app(app: Flask) -> Send:
    """Post into ``app`` itself: its whole WSGI stack, in this process, with no socket and no address.

    Flask's test client is the tool: it builds the request as a server would
    and runs it through the same middleware, blueprint and receivers as
    Huggy's deliveries. The body is serialized here, keeping Huggy's key order
    (which is the firing order) whatever the app's JSON provider does.
    """
    client = app.test_client()
    path = webhook_path(app)
    host = {"HTTP_HOST": own_host(app)}  # a name TRUSTED_HOSTS lets in; never taken from a request

    def send(body: Mapping[str, Any]) -> tuple[int, Mapping[str, Any] | None]:
        response = client.post(
            path, data=json.dumps(body, ensure_ascii=False), content_type="application/json", environ_overrides=host
        )
        answer = response.get_json(silent=True)
        response.close()  # as a server does once the answer is sent (runs what the app deferred to then)
        return response.status_code, answer if isinstance(answer, dict) else None

    return send


def over_http(webhook: str, session: requests.Session | None = None) -> Send:
    """Post to ``webhook``, the URL of a running inbox's webhook that an operator typed.

    Connection errors and timeouts propagate (``requests.RequestException``).
    """
    http = session or requests.Session()

    def send(body: Mapping[str, Any]) -> tuple[int, Mapping[str, Any] | None]:
        response = http.post(webhook, json=body, timeout=TIMEOUT, allow_redirects=False)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        return response.status_code, answer if isinstance(answer, dict) else None

    return send


@dataclass(frozen=True)
class Posted:
    """What the inbox answered to one step."""

    step: Step
    status: int
    body: Mapping[str, Any] | None

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


def post_conversation(
    send: Send,
    token: str,
    *,
    zone: tzinfo,
    steps: Iterable[Step] | None = None,
    pause: float = 0.0,
    on_posted: Callable[[Posted], None] | None = None,
) -> list[Posted]:
    """Post each step as one delivery with ``send``, ``pause`` seconds apart; stop at the first refusal.

    Each delivery is stamped when it is sent, so times in the inbox are real.
    """
    results: list[Posted] = []
    for index, step in enumerate(steps if steps is not None else conversation()):
        if index and pause:
            time.sleep(pause)
        status, body = send(delivery(step, token, zone=zone))
        posted = Posted(step, status, body)
        results.append(posted)
        if on_posted:
            on_posted(posted)
        if not posted.accepted:
            break
    return results


def demo_token(app: Flask) -> str:
    """The token the demo signs with: the app's own, so that the webhook accepts it.

    With no token configured the webhook accepts any (or refuses all), and a placeholder does.
    """
    tokens = huggy.endpoint(app).settings.tokens
    return tokens[0] if tokens else PLACEHOLDER_TOKEN


def start_demo(app: Flask) -> DemoRun:
    """Post the conversation through ``app`` itself from a background thread, and return at once.

    The page that started it then sees the events arrive live. A thread rather
    than the request itself, so that the page comes back at once and the
    deliveries arrive one by one, ``INBOX_DEMO_PAUSE`` apart.
    """
    state = inbox_state(app)
    with state.lock:
        if state.last_demo is not None and state.last_demo.running:
            return state.last_demo
        steps = conversation()
        state.demo_chats.update(chat for step in steps for chat in step.chats)
        run = state.last_demo = DemoRun(
            started_at=datetime.now(timezone.utc), target=webhook_path(app), total=len(steps)
        )
    token, pause = demo_token(app), float(app.config["INBOX_DEMO_PAUSE"])
    zone = huggy.endpoint(app).settings.timezone
    send = through_app(app)

    def record(posted: Posted) -> None:
        run.sent += 1
        run.accepted += posted.accepted
        if not posted.accepted:
            run.error = f"The webhook answered HTTP {posted.status}: {_reason(posted.body)}"
            run.refused = (posted.status, str((posted.body or {}).get("error", "error")))

    def work() -> None:
        try:
            post_conversation(send, token, zone=zone, steps=steps, pause=pause, on_posted=record)
        except Exception as exc:  # under TESTING, what the app raises reaches its caller: this thread
            logger.exception("The demo stopped.")
            run.error = f"The webhook failed: {type(exc).__name__}"
        finally:
            run.finish()

    threading.Thread(target=work, name="huggy-inbox-demo", daemon=True).start()
    return run


def _reason(body: Mapping[str, Any] | None) -> str:
    if not body:
        return "no JSON body"
    return f"{body.get('error', '?')}: {body.get('message', '')}".strip()


def register_demo_command(app: Flask) -> None:
    """Add ``flask huggy-demo`` to ``app``'s command line."""

    @app.cli.command("huggy-demo")
    @click.option(
        "--url",
        default=None,
        help="Base URL of a running inbox to post to over HTTP, e.g. http://127.0.0.1:5000. "
        "Without it, the conversation goes through the app itself, into its database.",
    )
    @click.option("--pause", type=float, default=None, help="Seconds between deliveries [default: INBOX_DEMO_PAUSE].")
    @click.option("--token", default=None, help="Token to sign with [default: HUGGY_WEBHOOK_TOKEN].")
    def huggy_demo(url: str | None, pause: float | None, token: str | None) -> None:
        """Post a realistic conversation to the inbox's webhook, as Huggy would.

        The deliveries go through the app's real webhook, into the database the
        inbox uses: open (or keep open) its pages and watch them fill up.
        """
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        if url is None:
            send, target = through_app(app), f"{webhook_path(app)}, through the app itself"
        elif url.startswith(("http://", "https://")):
            target = url.rstrip("/") + webhook_path(app)
            send = over_http(target)
        else:
            raise click.BadParameter("give the inbox's base URL, e.g. http://127.0.0.1:5000", param_hint="--url")
        steps = conversation()
        click.echo(f"Posting {len(steps)} deliveries to {target}")

        def report(posted: Posted) -> None:
            outcome = "accepted" if posted.accepted else f"refused, HTTP {posted.status} {_reason(posted.body)}"
            click.echo(f"  {posted.step.caption}: {' + '.join(posted.step.names)} -> {outcome}")

        try:
            results = post_conversation(
                send,
                token or demo_token(app),
                zone=huggy.endpoint(app).settings.timezone,
                steps=steps,
                pause=float(app.config["INBOX_DEMO_PAUSE"]) if pause is None else pause,
                on_posted=report,
            )
        except requests.RequestException as exc:
            raise click.ClickException(
                f"Could not reach {target} ({type(exc).__name__}). Is the inbox running? "
                f"Start it with: flask --app example_app run"
            ) from None
        if not all(posted.accepted for posted in results):
            raise click.ClickException(
                "The inbox refused the demo. If it runs with another HUGGY_WEBHOOK_TOKEN, pass it with --token."
            )
        where = f"{url.rstrip('/')}/" if url else "the inbox (flask --app example_app run)"
        click.echo(f"Done: open {where} to see the chats.")


__all__ = [
    "COMPANY_ID",
    "Posted",
    "Step",
    "conversation",
    "delivery",
    "demo_token",
    "over_http",
    "post_conversation",
    "register_demo_command",
    "start_demo",
    "through_app",
]
