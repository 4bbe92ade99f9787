""""Try it without Huggy": a realistic conversation posted to the inbox's own webhook, over HTTP.

The conversation is built with :mod:`flask_huggy.testing` from the samples of
Huggy's docs, with names and texts of a small shop, and goes through the same
door as Huggy's deliveries: an HTTP POST to ``/huggy/webhook`` with the token,
checked and dispatched by the real blueprint. Two ways to start it:

- the button on every page (``POST /demo``), which posts from a background
  thread to the address the server listens on, so the pages fill up live;
- ``flask --app example_app huggy-demo [--url http://127.0.0.1:5000]`` from a terminal.

It only ever posts to the app itself: the button derives the address from the
server's own socket (never from the ``Host`` header a client sends), and the
command from ``--url``, a base URL its operator types.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import click
import requests
from flask import Flask, current_app

from flask_huggy.testing import (
    SAMPLE_TOKEN,
    HuggyEvent,
    build_delivery,
    build_event,
    configured_token,
    fresh_id,
    webhook_url,
)

from .state import DemoRun, inbox_state

#: Seconds to wait for the inbox to answer one delivery.
TIMEOUT = 10.0

_PHOTO = "https://c.pzw.io/img/avatar-user-boy.jpg"  # Huggy's default avatar, as in its samples
#: The demo shop's Huggy account. Each docs sample names its own company; one
#: conversation of one shop names one.
COMPANY_ID = 15691


class DemoUnavailable(Exception):
    """The button cannot tell an address of its own server to post to."""


@dataclass(frozen=True)
class Step:
    """One delivery of the conversation, and what it shows."""

    caption: str
    events: tuple[HuggyEvent, ...]


def _person(person_id: int, name: str, *, mobile: str | None = None, email: str | None = None) -> dict[str, Any]:
    return {"id": person_id, "name": name, "mobile": mobile, "phone": None, "email": email, "photo": _PHOTO}


def conversation() -> list[Step]:
    """Two chats, as Huggy would report them: Maria's on WhatsApp, from first message
    to closing with a tabulation, and Carlos's on Huggy Chat, still waiting for an agent.

    Ids are fresh on each call, so running the demo again adds two new chats.
    """
    maria_chat, maria_id, carlos_chat, carlos_id = fresh_id(), fresh_id(), fresh_id(), fresh_id()
    maria = _person(maria_id, "Maria Souza", mobile="5511987654321", email="maria.souza@example.com")
    carlos = _person(carlos_id, "Carlos Pereira", email="carlos.pereira@example.com")
    ana = _person(40419, "Ana Lima", mobile="5511955554444", email="ana.lima@example.com")

    def chat(customer: dict[str, Any], channel: str, situation: str) -> dict[str, Any]:
        return {"channel": channel, "situation": situation, "department": False, "customer": customer,
                "workflowID": None, "workflowStepID": None}

    def from_contact(name: str, chat_id: int, customer: dict[str, Any], channel: str, situation: str,
                     body: str, message_id: int) -> HuggyEvent:
        return build_event(
            name, chat_id=chat_id, customer_id=customer["id"], id=str(message_id), body=body, sender=customer,
            senderType=channel, receiver=False if situation != "in_chat" else ana, receiverType="agent",
            channel=channel, customer=customer, chat={"id": chat_id, **chat(customer, channel, situation)},
        )

    def from_agent(body: str) -> HuggyEvent:
        return build_event(
            "sendedAllMessage", chat_id=maria_chat, customer_id=maria_id, body=body, sender=ana,
            senderType="agent", receiver=maria, receiverType="whatsapp", channel="agent", customer=maria,
            chat={"id": maria_chat, **chat(maria, "whatsapp", "in_chat")},
        )

    def flow(name: str, agent: dict[str, Any] | None) -> HuggyEvent:
        return build_event(name, chat_id=maria_chat, flowID=70582, **{
            "context.SYSTEM.CLIENT_NAME": "Maria Souza", "context.SYSTEM.CLIENT_FIRST_NAME": "Maria",
            "context.SYSTEM.CLIENT_SECOND_NAME": "Souza", "context.SYSTEM.CLIENT_EMAIL": maria["email"],
            "context.SYSTEM.CLIENT_NUMBER": "+" + maria["mobile"],
            "context.huggy.chat.agent.id": agent and agent["id"], "context.huggy.chat.agent.name": agent and agent["name"],
            "context.huggy.chat.agent.email": agent and agent["email"],
            "context.huggy.chat.company.name": "Loja Exemplo",
        })

    first = fresh_id()
    whatsapp = {"id": 101, "uuid": "298745b9-6af7-4e8b-a2f6-719b6b9b9ddd", "name": "WhatsApp Loja Exemplo",
                "type": "whatsapp"}
    huggy_chat = {"id": 19507, "uuid": "7b1413d6-2e67-43f8-a015-0542c62f7854", "name": "Huggy Chat",
                  "type": "widget"}
    steps = [
        Step("Ana comes online", (
            build_event("agentChangedStatus", **ana, isActive=True, isOnline=True, isAvailable=True),
        )),
        Step("Maria writes on WhatsApp: a new chat and a new contact", (
            build_event("createdCustomer", **maria, custom_fields={}, organizations=[], groups=[]),
            build_event("startedChat", id=maria_chat, situation="auto", channel=whatsapp, contact=maria),
            # Huggy reports a message of a queued chat twice (receivedMessage and
            # receivedAllMessage, one message id): the timeline shows it once.
            from_contact("receivedMessage", maria_chat, maria, "whatsapp", "auto",
                         "Olá! Meu pedido #4512 ainda não chegou 😕", first),
            from_contact("receivedAllMessage", maria_chat, maria, "whatsapp", "auto",
                         "Olá! Meu pedido #4512 ainda não chegou 😕", first),
        )),
        Step("The welcome flow runs", (flow("startedAutomationFlow", None),)),
        Step("The flow ends and the chat waits for an agent", (flow("finishedAutomationFlow", None),)),
        Step("Ana takes the chat", (
            build_event("leftQueue", id=maria_chat, situation="in_chat", agent={"id": ana["id"]}, channel=whatsapp,
                        contact=maria),
            build_event("agentEntered", id=maria_chat, channel="whatsapp", situation="in_chat", customer=maria,
                        agent=ana),
        )),
        Step("Ana answers", (from_agent("Oi, Maria! Aqui é a Ana. Vou verificar o pedido #4512 para você."),)),
        Step("Ana leaves a note for the team", (
            build_event("newInternalMessage", chat_id=maria_chat, customer_id=maria_id,
                        body="Transportadora confirmou o atraso: entrega amanhã.", sender=ana, senderType="agent",
                        receiver=maria, receiverType="whatsapp", chat={"id": maria_chat, **chat(maria, "whatsapp", "in_chat")}),
        )),
        Step("They talk", (
            from_agent("Falei com a transportadora: seu pedido chega amanhã até as 18h."),
            from_contact("receivedAllMessage", maria_chat, maria, "whatsapp", "in_chat",
                         "Ah, que bom! Obrigada, Ana.", fresh_id()),
        )),
        Step("Carlos opens Huggy Chat on the website", (
            build_event("startedWidgetAttendance", name="Carlos Pereira", email=carlos["email"], mobile=None,
                        phone=None, widget="2008"),
            build_event("startedChat", id=carlos_chat, situation="wait_for_chat", channel=huggy_chat, contact=carlos),
            from_contact("receivedAllMessage", carlos_chat, carlos, "widget", "wait_for_chat",
                         "Boa tarde! Vocês entregam em Salvador?", fresh_id()),
        )),
        Step("Maria's chat moves to Resolved", (
            build_event("updatedWorkflowStep", agent={"id": ana["id"], "name": ana["name"], "photo": _PHOTO},
                        chat={"id": maria_chat, **chat(maria, "whatsapp", "in_chat"), "workflowID": 6074,
                              "workflowStepID": 7612},
                        step={"id": 7612, "name": "Resolvido", "workflow": {"id": 6074, "name": "Suporte"}},
                        previousStep={"id": 7611, "name": "Em atendimento",
                                      "workflow": {"id": 6074, "name": "Suporte"}}),
        )),
        Step("Ana closes Maria's chat with a tabulation", (
            from_agent("Qualquer coisa, é só chamar. Até logo!"),
            build_event("closedChat", id=maria_chat, channel="whatsapp", situation="finishing", closed=1,
                        tabulation={"id": 7, "name": "Pedido atrasado"}),
        )),
    ]
    for step in steps:
        for event in step.events:
            _one_company(event)
    return steps


def _one_company(event: HuggyEvent) -> None:
    """Make ``event`` name the demo shop's company, keeping each field's type as Huggy sends it."""
    company = event.get("company")
    if isinstance(company, dict) and "id" in company:
        company["id"] = str(COMPANY_ID) if isinstance(company["id"], str) else COMPANY_ID
    if "companyID" in event:
        event["companyID"] = str(COMPANY_ID)
    context = event.get("context")
    if isinstance(context, dict) and "huggy.chat.company.id" in context:
        context["huggy.chat.company.id"] = COMPANY_ID


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
    webhook: str,
    token: str,
    *,
    steps: Iterable[Step] | None = None,
    pause: float = 0.0,
    timezone_name: str = "America/Sao_Paulo",
    on_posted: Callable[[Posted], None] | None = None,
    session: requests.Session | None = None,
) -> list[Posted]:
    """POST each step as one delivery to ``webhook``, ``pause`` seconds apart; stop at the first refusal.

    Each delivery is stamped when it is sent, so times in the inbox are real.
    Connection errors and timeouts propagate (``requests.RequestException``).
    """
    http = session or requests.Session()
    results: list[Posted] = []
    for index, step in enumerate(steps if steps is not None else conversation()):
        if index and pause:
            time.sleep(pause)
        delivery = build_delivery(*step.events, token=token, timezone=timezone_name)
        response = http.post(webhook, json=delivery, timeout=TIMEOUT, allow_redirects=False)
        try:
            body = response.json()
        except ValueError:
            body = None
        posted = Posted(step, response.status_code, body if isinstance(body, dict) else None)
        results.append(posted)
        if on_posted:
            on_posted(posted)
        if not posted.accepted:
            break
    return results


def demo_token(app: Flask) -> str:
    """The token the demo signs with: the app's own, so that the webhook accepts it.

    With no token configured the webhook accepts any, and the builders' placeholder does.
    """
    return configured_token(app) or SAMPLE_TOKEN


def own_base_url(environ: Mapping[str, Any]) -> str:
    """The base URL of the server handling this request, from the socket it listens on.

    WSGI servers put their listening address in ``SERVER_NAME``/``SERVER_PORT``
    (Werkzeug's and gunicorn's do for TCP). ``ProxyFix`` rewrites them from
    ``X-Forwarded-*`` headers but keeps the originals, which are used. Only an IP
    address of this machine's loopback or private networks is accepted: the demo
    carries the app's token and must never be sent elsewhere.
    """
    original = environ.get("werkzeug.proxy_fix.orig") or {}

    def pick(key: str) -> Any:
        return original.get(key) or environ.get(key)

    host, port, scheme = str(pick("SERVER_NAME") or ""), str(pick("SERVER_PORT") or ""), pick("wsgi.url_scheme")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise DemoUnavailable(
            f"This server does not listen on an IP address ({host!r}); run `flask --app example_app huggy-demo "
            f"--url <its URL>` instead."
        ) from None
    if address.is_unspecified:  # bound to every interface: loopback reaches it
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    if not (address.is_loopback or address.is_private or address.is_link_local) or not port.isdigit():
        raise DemoUnavailable(
            f"Not posting the demo to {address} port {port or '?'}: run `flask --app example_app huggy-demo --url "
            f"<its URL>` instead."
        )
    shown = f"[{address}]" if address.version == 6 else str(address)
    return f"{scheme if scheme in ('http', 'https') else 'http'}://{shown}:{port}"


def start_demo(app: Flask, base_url: str) -> DemoRun:
    """Post the conversation to ``base_url`` from a background thread and return at once.

    The page that started it then sees the events arrive live. A thread rather
    than the request itself: a server with a single worker could not answer
    its own posts while the request that makes them waits.
    """
    state = inbox_state(app)
    with state.lock:
        if state.last_demo is not None and state.last_demo.running:
            return state.last_demo
        steps = conversation()
        target = base_url.rstrip("/") + webhook_url(app)
        run = state.last_demo = DemoRun(started_at=datetime.now(timezone.utc), target=target, total=len(steps))
    token, pause = demo_token(app), float(app.config["INBOX_DEMO_PAUSE"])
    tz_name = str(app.config.get("HUGGY_TIMEZONE", "America/Sao_Paulo"))

    def record(posted: Posted) -> None:
        run.sent += 1
        run.accepted += posted.accepted
        if not posted.accepted:
            run.error = f"The webhook answered HTTP {posted.status}: {_reason(posted.body)}"
            run.refused = (posted.status, str((posted.body or {}).get("error", "error")))

    def work() -> None:
        try:
            post_conversation(target, token, steps=steps, pause=pause, timezone_name=tz_name, on_posted=record)
        except requests.RequestException as exc:
            run.error = f"Could not reach {target}: {type(exc).__name__}"
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
    @click.option("--url", default="http://127.0.0.1:5000", show_default=True,
                  help="Base URL of the running inbox; the conversation goes to its /huggy/webhook.")
    @click.option("--pause", type=float, default=None,
                  help="Seconds between deliveries [default: INBOX_DEMO_PAUSE].")
    @click.option("--token", default=None, help="Token to sign with [default: HUGGY_WEBHOOK_TOKEN].")
    def huggy_demo(url: str, pause: float | None, token: str | None) -> None:
        """Post a realistic conversation to the running inbox, over HTTP, as Huggy would.

        Start the inbox first (flask --app example_app run), then watch its pages fill up.
        """
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        if not url.startswith(("http://", "https://")):
            raise click.BadParameter("give the inbox's base URL, e.g. http://127.0.0.1:5000", param_hint="--url")
        target = url.rstrip("/") + webhook_url(app)
        steps = conversation()
        click.echo(f"Posting {len(steps)} deliveries to {target}")

        def report(posted: Posted) -> None:
            names = " + ".join(event.name for event in posted.step.events)
            outcome = "accepted" if posted.accepted else f"refused, HTTP {posted.status} {_reason(posted.body)}"
            click.echo(f"  {posted.step.caption}: {names} -> {outcome}")

        try:
            results = post_conversation(
                target, token or demo_token(app), steps=steps,
                pause=float(app.config["INBOX_DEMO_PAUSE"]) if pause is None else pause,
                timezone_name=str(app.config.get("HUGGY_TIMEZONE", "America/Sao_Paulo")), on_posted=report,
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
        click.echo(f"Done: open {url.rstrip('/')}/ to see the chats.")


__all__ = [
    "DemoUnavailable",
    "Posted",
    "Step",
    "conversation",
    "demo_token",
    "own_base_url",
    "post_conversation",
    "register_demo_command",
    "start_demo",
]
