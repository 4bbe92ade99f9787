"""``flask huggy ...``: list the events, simulate and replay deliveries, check the handshake.

The commands hang off the blueprint's click group (``blueprint.cli``), so they
appear under ``flask <blueprint name>`` in every app that registers the
blueprint, and run inside that app's context: by default they post to the
app's own webhook through its test client, so no server needs to run.

Each command is defined once, here, and shared by the groups of every
endpoint; :func:`pass_endpoint` hands it the endpoint whose group runs it.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Concatenate, NoReturn, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

import click
import requests
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask.config import Config

from ._version import __version__
from .auth import mask_token, restore_token
from .catalog import CATALOG, EVENTS
from .config import DEFAULT_CONFIRM_URL, DEFAULTS, SETTINGS, Settings
from .dispatch import EventOutcome, Outcome
from .endpoint import EXTENSION_KEY, Endpoint, get_endpoint
from .envelope import is_handshake, parse_delivery
from .errors import ConfigError, HuggyError
from .journal import (
    OUTCOME,
    RECEIVED,
    Journal,
    JournaledDelivery,
    failed_deliveries,
)
from .runner import Run, run_delivery
from .samples import TEMPLATES
from .signals import huggy_signals, token_validated
from .testing import (
    SAMPLE_TOKEN,
    ConfirmationInterceptor,
    HuggyEvent,
    SignalRecorder,
    build_delivery,
    build_event,
    build_handshake,
    configured_token,
    fresh_id,
    set_field,
    signal_attributes,
    webhook_url,
)

USER_AGENT = f"flask-huggy-cli/{__version__}"
#: Without a terminal (CI, a log), a long replay reports its count this often.
PROGRESS_EVERY = 100

_T = TypeVar("_T")
_P = ParamSpec("_P")
_EVENT = click.Choice(list(TEMPLATES))
_LOG_LINE = re.compile(r"(?:^|\s)(?P<name>[A-Za-z][A-Za-z0-9_]*) (?P<object>\{.*\})\s*$")


def register_commands(cli: click.Group, *, blueprint: str = "huggy", config_prefix: str = "HUGGY_") -> None:
    """Attach the ``events``, ``simulate``, ``replay``, ``handshake`` and ``check`` commands to ``cli``.

    ``cli`` is the command group of the endpoint named ``blueprint`` (its
    blueprint's ``cli``, named like it): each command finds that endpoint, and
    with it the webhook it posts to and the settings (``config_prefix``) it
    reads, when it runs (:func:`pass_endpoint`). The commands are defined once,
    in this module, and shared by the groups of every endpoint.
    """
    cli.help = (
        f"Work with the Huggy webhook ({blueprint}.webhook) without Huggy: list its events, "
        "simulate and replay deliveries, check the handshake and the settings."
    )
    cli.short_help = "Simulate, replay and inspect Huggy webhooks."
    for command in COMMANDS:
        cli.add_command(command)


def pass_endpoint(command: Callable[Concatenate[Endpoint, _P], _T]) -> Callable[_P, _T]:
    """Run ``command`` in the app's context, given the endpoint whose group it runs under.

    ``flask huggy simulate`` and ``flask huggy_b simulate`` run the same command
    object: the group's name is the endpoint's name, so the endpoint (its
    webhook, its settings) is looked up when the command runs, not captured
    when the group is built.
    """

    @functools.wraps(command)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        return command(current_endpoint(), *args, **kwargs)

    return with_appcontext(run)


def current_endpoint() -> Endpoint:
    """The endpoint of the app whose command group runs the current command."""
    parent = click.get_current_context().parent
    name = parent.command.name if parent is not None else None
    endpoints: dict[str, Endpoint] = current_app.extensions.get(EXTENSION_KEY, {})
    if name is None or name not in endpoints:
        known = ", ".join(map(repr, endpoints)) or "none: register flask_huggy.blueprint or use Huggy(app)"
        raise click.UsageError(
            f"This command runs under the group of a Huggy endpoint (flask <endpoint name> "
            f"<command>), and {name!r} is none (this app's endpoints: {known})."
        )
    return get_endpoint(current_app, name)


@click.command("events")
@pass_endpoint
def events_command(endpoint: Endpoint) -> None:
    """List Huggy's events: signal, deprecation, and receivers connected in this app.

    Receivers connected to any sender count too. An alias (another name Huggy
    sends an event under) is listed with its event's signal.
    """
    app = endpoint.app
    attributes = signal_attributes()
    rows = [("EVENT", "SIGNAL", "DEPRECATED", "RECEIVERS")]
    for name, spec in EVENTS.items():
        rows.append(
            (
                name,
                f"signals.{spec.signal_attribute}",
                "yes" if spec.deprecated else "",
                str(_receivers(spec.signal, app)),
            )
        )
    rows.append(("", "", "", ""))
    for name, signal in huggy_signals.items():
        if name not in EVENTS:
            rows.append((f"({name})", f"signals.{attributes[name]}", "", str(_receivers(signal, app))))
    _echo_table(rows)
    for spec in CATALOG:
        for alias in spec.aliases:
            click.echo(f"{alias}: the name live Huggy sends {spec.name} under; same schema, typed object and signal.")


@click.command("simulate")
@click.argument("event", type=_EVENT, metavar="EVENT")
@click.option(
    "--chain",
    "chain",
    type=_EVENT,
    multiple=True,
    metavar="EVENT",
    help="Another event in the same delivery (repeatable). All events share one chat and customer.",
)
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Set a field of the first event (repeatable). A dotted FIELD reaches inside (chat.id=5); "
    "VALUE is read as JSON when it parses (5, true, null, '\"5\"'), else as text.",
)
@click.option("--url", help="POST to this URL instead of this app's own webhook.")
@click.option("--token", help="The delivery's token. Default: the app's configured token.")
@click.option(
    "--print", "print_only", is_flag=True, help="Print the delivery as JSON (its token masked); send nothing."
)
@click.option("--show-token", is_flag=True, help="With --print: print the token whole (it is a secret).")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for --url.")
@pass_endpoint
def simulate_command(
    endpoint: Endpoint,
    event: str,
    chain: tuple[str, ...],
    assignments: tuple[str, ...],
    url: str | None,
    token: str | None,
    print_only: bool,
    show_token: bool,
    timeout: float,
) -> None:
    """Build a realistic delivery of EVENT from Huggy's docs and post it.

    Ids are fresh, the delivery's time is now, and timestamps such as
    send_at and closed_at say the same instant in Brazil local time
    (HUGGY_TIMEZONE), as Huggy writes them. Without --url the delivery goes
    to this app's webhook through its test client: no server needed.

    \b
    Examples:
      flask huggy simulate closedChat
      flask huggy simulate receivedMessage --set body=Oi --chain closedChat
      flask huggy simulate receivedMessage --set chat.id=5 --print
    """
    tz = endpoint.settings.timezone
    epoch = int(datetime.now(timezone.utc).timestamp())
    events = _fresh_events((event, *chain), epoch, tz)
    for assignment in assignments:
        field_path, value = _parse_assignment(assignment)
        try:
            set_field(events[0], field_path, value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--set") from None
    delivery = build_delivery(*events, token=_default_token(endpoint, token), time=epoch, timezone=tz)
    if print_only:
        # A terminal, a CI log or a pasted bug report is no place for the app's secret.
        shown = delivery if show_token else {**delivery, "token": mask_token(delivery["token"])}
        click.echo(json.dumps(shown, indent=2, ensure_ascii=False))
        return
    answer = _Sender(endpoint, url, timeout).post(delivery)
    names = ", ".join(e.name for e in events)
    if answer.accepted:
        click.echo(f"{names} -> {answer.target}: {click.style(answer.describe(), fg='green')}")
        return
    click.secho(f"{names} -> {answer.target}: refused, {answer.describe()}", fg="red", err=True)
    raise SystemExit(1)


@click.command("replay")
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True), metavar="FILE...")
@click.option(
    "--failed",
    is_flag=True,
    help="FILE... is HUGGY_JOURNAL (its directory or some of its files): re-run, in this process, "
    "exactly the events whose receivers failed or never ran.",
)
@click.option("--url", help="POST to this URL instead of this app's own webhook.")
@click.option(
    "--token",
    help="Replace each delivery's token. Default: keep the recorded one "
    "(deliveries recorded without one get the app's token).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Read and validate every delivery; send nothing. With --failed: list the events that would run again.",
)
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for --url.")
@pass_endpoint
def replay_command(
    endpoint: Endpoint,
    files: tuple[str, ...],
    failed: bool,
    url: str | None,
    token: str | None,
    dry_run: bool,
    timeout: float,
) -> None:
    """Post recorded deliveries again, in order, and sum up what the receiver said.

    Each FILE ('-' for stdin) holds one delivery as JSON, a JSON list of
    deliveries, or JSON lines: one delivery per line, possibly wrapped as
    {"body": ...} or {"raw": ...}, a record of HUGGY_JOURNAL (all its
    deliveries are posted; its outcome records are skipped), a log line
    ending with a whole delivery (the Celery worker's dead letters), or an
    example-app log line ("... closedChat {...}", one event). Handshakes
    are skipped: replaying one would send a real confirmation to Huggy.

    With --failed, FILE... is the delivery journal (a directory or files):
    the events that never succeeded run again in this process, exactly
    those, and their outcome is added to the journal, so that a second run
    re-runs only what still fails.

    \b
    Examples:
      flask huggy replay deliveries.jsonl
      flask huggy replay --failed /var/lib/myapp/huggy-journal
      flask huggy replay --failed --dry-run /var/lib/myapp/huggy-journal

    Exits with 1 if any delivery was refused (non-2xx) or unreadable, or,
    with --failed, if any event still fails.
    """
    if failed:
        if url is not None or token is not None:
            raise click.UsageError("--failed runs the receivers in this process: it takes no --url or --token.")
        _replay_failed(endpoint, files, dry_run)
    for path in files:
        if path != "-" and os.path.isdir(path):
            raise click.BadParameter(
                f"{path!r} is a directory; to replay a journal directory, add --failed.", param_hint="FILE..."
            )
    records = [record for path in files for record in _read_file(path)]
    unreadable = [r for r in records if r.problem]
    handshakes = [r for r in records if r.handshake]
    fallback = _default_token(endpoint, None)
    deliveries = [(r.where, _with_token(r.payload, token, fallback)) for r in records if r.payload is not None]
    for record in unreadable:
        click.secho(f"{record.where}: unreadable, {record.problem}", fg="red", err=True)
    skipped = f", skipped {len(handshakes)} handshake(s)" if handshakes else ""
    unread = f", unreadable {len(unreadable)}" if unreadable else ""
    if dry_run:
        refused = _dry_run(deliveries, endpoint.settings)
        click.echo(f"Dry run: would send {len(deliveries)}, would be refused {refused}{skipped}{unread}.")
        raise SystemExit(1 if refused or unreadable else 0)
    post = _Sender(endpoint, url, timeout)
    accepted = refused = 0
    for where, payload in _progress(deliveries):
        answer = post.post(payload)
        if answer.accepted:
            accepted += 1
            continue
        refused += 1
        hint = " (recorded with another token? try --token)" if answer.status == 403 else ""
        click.secho(f"{where}: refused, {answer.describe()}{hint}", fg="red", err=True)
        if answer.status is None:
            click.secho("Stopped: the receiver cannot be reached.", fg="red", err=True)
            break
    click.echo(f"Sent {accepted + refused}, accepted {accepted}, refused {refused}{skipped}{unread}.")
    raise SystemExit(1 if refused or unreadable else 0)


@click.command("handshake")
@click.option(
    "--url",
    help="Post the handshake to this URL (a running server) instead of this app. "
    "That server's confirmation request cannot be intercepted: it really goes out.",
)
@click.option("--token", help="The handshake's token. Default: the app's configured token.")
@click.option(
    "--huggy-status",
    type=int,
    default=200,
    show_default=True,
    help="How the intercepted confirmation request is answered, e.g. 404 to see that it changes "
    "nothing Huggy receives.",
)
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for --url.")
@pass_endpoint
def handshake_command(
    endpoint: Endpoint, url: str | None, token: str | None, huggy_status: int, timeout: float
) -> None:
    """Play Huggy's URL check against the app, end to end.

    Posts {"token": ..., "validToken": true} as Huggy does when a URL is
    saved in its panel, and checks that the answer is the token itself
    (what Huggy's panel waits for). The confirmation request the app sends
    afterwards is intercepted in this process and answered with
    --huggy-status, so nothing reaches Huggy; the command reports each step.
    """
    app, prefix = endpoint.app, endpoint.config_prefix
    current = endpoint.settings
    token = token or configured_token(app, prefix) or secrets.token_hex(16)
    if url is not None:
        click.secho(
            f"Posting to {url}: that server sends its confirmation request to its own "
            f"{prefix}CONFIRM_URL, for real, after answering.",
            fg="yellow",
            err=True,
        )
        answer = _Sender(endpoint, url, timeout).post(build_handshake(token))
        raise SystemExit(0 if _report_handshake_answer(answer, token) else 1)
    if not current.tokens:
        click.secho(
            f"{prefix}WEBHOOK_TOKEN is not set: the app answers any handshake (first setup) "
            "and refuses deliveries until it is set"
            + (" (or accepts them unsigned: ALLOW_UNAUTHENTICATED is on)." if current.allow_unauthenticated else "."),
            fg="yellow",
        )
    click.echo(f"1. Huggy posts the handshake to {webhook_url(app, endpoint.name)} with token {mask_token(token)}.")
    with ConfirmationInterceptor(huggy_status, app=app) as huggy, SignalRecorder(sender=app) as recorded:
        answer = _Sender(endpoint, None, timeout).post(build_handshake(token))
    answered = _report_handshake_answer(answer, token, step="2. ")
    if answered:
        _report_confirmations(huggy, token, huggy_status, current.confirm_url, prefix)
    calls = recorded.calls_to(token_validated)
    outcome = f" with confirmed={calls[-1].kwargs.get('confirmed')!r}" if calls else ""
    click.echo(
        f"4. token_validated fired {len(calls)} time(s){outcome}; "
        f"{_receivers(token_validated, app)} receiver(s) connected in this app."
    )
    raise SystemExit(0 if answered else 1)


@click.command("check")
@click.option(
    "--url",
    help="Also post a handshake and a simulated delivery to this URL (a running server) and check both answers.",
)
@click.option("--token", help="The token sent to --url. Default: the app's configured token.")
@click.option(
    "--event",
    type=_EVENT,
    default="closedChat",
    show_default=True,
    metavar="EVENT",
    help="The event of the delivery sent to --url.",
)
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for --url.")
@pass_endpoint
def check_command(endpoint: Endpoint, url: str | None, token: str | None, event: str, timeout: float) -> None:
    """Check the settings of this webhook and, with --url, a running server.

    Prints every setting with its value (tokens and header values masked)
    and its source: this app's config, or the default. Every unusable
    value is reported with its fix, not only the first. (Registering the
    webhook checks the same: an app with an unusable setting does not
    start, and flask prints the ConfigError naming every unusable key.)

    With --url, posts what Huggy posts: a handshake ({"token": ...,
    "validToken": true}), which must be answered HTTP 200 with exactly
    the token as the body, then a delivery of EVENT with fresh ids, which
    must be answered 2xx. They are real requests: that server's receivers
    run, and it sends its handshake confirmation to its CONFIRM_URL.

    \b
    Examples:
      flask huggy check
      flask huggy check --url https://myapp.example.com/huggy/webhook

    Exits with 1 on any problem.
    """
    endpoints: dict[str, Endpoint] = endpoint.app.extensions.get(EXTENSION_KEY, {})
    parsed = _report_settings(
        endpoint.app.config,
        endpoint.config_prefix,
        other_prefixes={other.config_prefix for other in endpoints.values()},
    )
    ok = parsed is not None
    if url is not None:
        values = parsed or {}
        tokens = values.get("tokens") or (SAMPLE_TOKEN,)
        tz = values.get("timezone") or ZoneInfo(DEFAULTS["TIMEZONE"])
        ok = _check_server(_Sender(endpoint, url, timeout), token or tokens[0], event, tz) and ok
    raise SystemExit(0 if ok else 1)


#: The commands :func:`register_commands` gives every endpoint's group.
COMMANDS: tuple[click.Command, ...] = (
    events_command,
    simulate_command,
    replay_command,
    handshake_command,
    check_command,
)


def _default_token(endpoint: Endpoint, given: str | None) -> str:
    """The token a simulated or replayed delivery carries: ``given``, else the app's, else the sample's."""
    return given or configured_token(endpoint.app, endpoint.config_prefix) or SAMPLE_TOKEN


def _fresh_events(names: Sequence[str], epoch: int, tz: ZoneInfo) -> list[HuggyEvent]:
    """Events of one new chat and customer (fresh ids), stamped ``epoch``, as Huggy would send them."""
    chat_id, customer_id = fresh_id(), fresh_id()
    return [build_event(name, chat_id=chat_id, customer_id=customer_id, at=epoch, timezone=tz) for name in names]


def _receivers(signal: Any, app: Flask) -> int:
    return sum(1 for _ in signal.receivers_for(app))


def _echo_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
        click.echo(click.style(line, bold=True) if index == 0 else line)


def _parse_assignment(assignment: str) -> tuple[str, Any]:
    path, sep, text = assignment.partition("=")
    if not sep or not path:
        raise click.BadParameter(f"{assignment!r} is not FIELD=VALUE.", param_hint="--set")
    try:
        return path, json.loads(text)
    except ValueError:
        return path, text


# --- Check -----------------------------------------------------------------------------------


def _report_settings(config: Config, prefix: str, other_prefixes: set[str]) -> dict[str, Any] | None:
    """Print every setting, its value and source; return the parsed values, or ``None`` if any is unusable."""
    parsed: dict[str, Any] = {}
    problems: list[ConfigError] = []
    rows = [("SETTING", "VALUE", "SOURCE")]
    for setting in SETTINGS:
        key = prefix + setting.key
        raw = config.get(key, setting.default)
        shown = setting.show(raw)
        try:
            parsed[setting.attr] = value = setting.parse(raw, key)
        except ConfigError as exc:
            problems.append(exc)
            shown += "  <- unusable"
        else:
            if isinstance(raw, str) and isinstance(value, (bool, int, float, str)) and value != raw:
                shown += f" ({value!r})"  # what an environment string means; what "auto" chose
        rows.append((key, shown, "config" if key in config else "default"))
    _echo_table(rows)
    known = {prefix + setting.key for setting in SETTINGS}
    others = tuple(p for p in other_prefixes if p != prefix and p.startswith(prefix))
    unknown = sorted(k for k in config if k.startswith(prefix) and k not in known and not k.startswith(others))
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]}?" if close else "a typo?"
        click.secho(f"{key} is in the config but is no setting of this webhook ({hint})", fg="yellow")
    click.echo()
    for error in problems:
        click.secho(f"Unusable: {error.message}", fg="red")
    if problems:
        click.secho(f"{len(problems)} unusable setting(s): the app refuses to start with them.", fg="red")
        return None
    click.echo(click.style(f"All {len(SETTINGS)} settings are usable.", fg="green"))
    return parsed


def _check_server(post: _Sender, token: str, event: str, tz: ZoneInfo) -> bool:
    """Post a handshake and a delivery to ``post.url`` as Huggy would; report both answers."""
    click.echo(f"\nPosting to {post.url} with token {mask_token(token)}:")
    handshake = _report_handshake_answer(post.post(build_handshake(token)), token, step="1. Handshake: ")
    epoch = int(datetime.now(timezone.utc).timestamp())
    delivery = post.post(build_delivery(*_fresh_events([event], epoch, tz), token=token, time=epoch, timezone=tz))
    if delivery.accepted:
        click.echo(f"2. A {event} delivery: the app answered {click.style(delivery.describe(), fg='green')}")
    else:
        click.secho(
            f"2. A {event} delivery: the app answered {delivery.describe()}; Huggy needs a 2xx, or it retries.",
            fg="red",
        )
    return handshake and delivery.accepted


# --- Sending ------------------------------------------------------------------------------


@dataclass
class _Answer:
    target: str
    #: HTTP status, or None when nothing answered.
    status: int | None
    body: Any = None
    problem: str | None = None
    #: The body as text, and its type: a handshake's answer is the token, not JSON.
    text: str = ""
    content_type: str = ""

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        if self.status is None:
            return str(self.problem)
        if isinstance(self.body, dict) and "error" in self.body:
            return f"HTTP {self.status} {self.body['error']}: {self.body.get('message', '')}"
        if isinstance(self.body, dict):
            # A confirmed handshake echoes the token: keep it out of terminals and CI logs.
            shown = {k: mask_token(v) if k == "token" else v for k, v in self.body.items()}
            return f"HTTP {self.status} {json.dumps(shown, ensure_ascii=False)}"
        if isinstance(self.body, list):
            return f"HTTP {self.status} {json.dumps(self.body, ensure_ascii=False)}"
        return f"HTTP {self.status} {str(self.body or '')[:200]}".rstrip()


@dataclass
class _Sender:
    """Posts JSON to the endpoint's webhook (through the app's test client) or to a URL (with requests)."""

    endpoint: Endpoint
    url: str | None
    timeout: float

    def post(self, body: Mapping[str, Any]) -> _Answer:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        if self.url is None:
            return self._post_in_process(data)
        try:
            response = requests.post(
                self.url,
                data=data,
                headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            return _Answer(self.url, None, problem=f"{self.url} did not answer within {self.timeout:g} s")
        except requests.RequestException as exc:
            return _Answer(self.url, None, problem=f"{self.url} cannot be reached ({type(exc).__name__})")
        return _Answer(
            self.url,
            response.status_code,
            _json_or_text(response.text),
            text=response.text,
            content_type=response.headers.get("Content-Type", ""),
        )

    def _post_in_process(self, data: bytes) -> _Answer:
        app = self.endpoint.app
        path = webhook_url(app, self.endpoint.name)
        try:
            with app.test_client().post(path, data=data, content_type="application/json") as response:
                pass  # closed, as a server closes it: the handshake's confirmation runs then
        except Exception as exc:  # noqa: BLE001  # a receiver raised and the app propagates (TESTING)
            return _Answer(path, 500, {"error": "receiver_raised", "message": f"{type(exc).__name__}: {exc}"})
        text = response.get_data(as_text=True)
        return _Answer(path, response.status_code, _json_or_text(text), text=text, content_type=response.content_type)


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


# --- Replay -------------------------------------------------------------------------------


@dataclass
class _Record:
    #: "file", "file[3]" or "file:12": where to look when something is wrong.
    where: str
    payload: dict[str, Any] | None = None
    problem: str | None = None
    handshake: bool = False
    #: A journal's outcome record: nothing to send.
    outcome: bool = False


def _read_file(path: str) -> list[_Record]:
    name = "<stdin>" if path == "-" else path
    try:
        with click.open_file(path, encoding="utf-8") as stream:
            text = stream.read()
    except (OSError, UnicodeDecodeError) as exc:
        return [_Record(name, problem=f"cannot be read ({exc})")]
    if not text.strip():
        return [_Record(name, problem="empty")]
    try:
        whole = json.loads(text)
    except ValueError:
        return list(_read_lines(name, text))
    if isinstance(whole, list):
        return [_record(f"{name}[{index}]", item) for index, item in enumerate(whole)]
    return [_record(name, whole)]


def _read_lines(name: str, text: str) -> Iterator[_Record]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            yield _record(where, json.loads(line))
            continue
        except ValueError:
            pass
        delivery = _trailing_delivery(line)
        if delivery is not None:  # e.g. the Celery worker's dead-letter line
            yield _record(where, delivery)
            continue
        match = _LOG_LINE.search(line)
        if match is None:
            yield _Record(where, problem="neither JSON nor a log line ending with '<event> {...}'")
            continue
        try:
            event = json.loads(match["object"])
        except ValueError as exc:
            yield _Record(where, problem=f"the event after {match['name']!r} is not JSON ({exc})")
            continue
        # A log line holds one event, without the delivery's time and token.
        yield _record(
            where, {"time": int(datetime.now(timezone.utc).timestamp()), "messages": {match["name"]: [event]}}
        )


def _trailing_delivery(line: str) -> dict[str, Any] | None:
    """The whole delivery a log line ends with (``... {"time": ..., "messages": {...}}``), if any."""
    decoder = json.JSONDecoder()
    stripped = line.rstrip()
    start = stripped.find("{")
    while start != -1:
        try:
            obj, end = decoder.raw_decode(stripped, start)
        except ValueError:
            obj, end = None, -1
        if end == len(stripped):
            return obj if isinstance(obj, dict) and isinstance(obj.get("messages"), dict) else None
        start = stripped.find("{", start + 1)
    return None


def _record(where: str, item: Any) -> _Record:
    if isinstance(item, dict) and item.get("kind") in (RECEIVED, OUTCOME) and "id" in item:
        if item["kind"] == OUTCOME:
            return _Record(where, outcome=True)
        item = item.get("delivery")
        if isinstance(item, dict):
            # The journal masks the token: it gets the app's token, as a delivery recorded without one.
            item = {key: value for key, value in item.items() if key != "token"}
    elif isinstance(item, dict) and "messages" not in item and "validToken" not in item:
        for wrapper in ("body", "raw"):  # what a journal stores around the delivery
            if wrapper in item:
                item = item[wrapper]
                if isinstance(item, str):
                    try:
                        item = json.loads(item)
                    except ValueError:
                        return _Record(where, problem=f"its {wrapper!r} is not JSON")
                break
    if not isinstance(item, dict):
        return _Record(where, problem=f"a JSON {type(item).__name__}, not a delivery object")
    if is_handshake(item):
        return _Record(where, handshake=True)
    if "messages" not in item:
        return _Record(where, problem="not a delivery: no 'messages'")
    return _Record(where, payload=item)


def _with_token(payload: dict[str, Any], override: str | None, fallback: str) -> dict[str, Any]:
    if override is not None:
        return {**payload, "token": override}
    if "token" not in payload:
        return {**payload, "token": fallback}
    return payload


def _dry_run(deliveries: list[tuple[str, dict[str, Any]]], settings: Settings) -> int:
    refused = 0
    for where, payload in deliveries:
        try:
            delivery = parse_delivery(payload, settings.timezone)
        except HuggyError as exc:
            refused += 1
            details = f" {json.dumps(exc.details, ensure_ascii=False)}" if exc.details else ""
            click.secho(f"{where}: would be refused, {exc.code}: {exc.message}{details}", fg="red", err=True)
            continue
        invalid = [event.name for event in delivery.events if not event.validate()]
        summary = f"{where}: {len(delivery.events)} event(s)"
        if invalid:
            summary += f", invalid: {', '.join(invalid)}"
            if settings.strict:
                refused += 1
                summary += " (refused: HUGGY_STRICT is on)"
        click.echo(summary)
    return refused


def _progress(items: list[_T]) -> Iterator[_T]:
    total = len(items)
    if total > 1 and sys.stderr.isatty():
        with click.progressbar(items, label="Replaying", file=sys.stderr) as bar:
            yield from bar
        return
    for done, item in enumerate(items, 1):
        yield item
        if total > PROGRESS_EVERY and (done % PROGRESS_EVERY == 0 or done == total):
            click.echo(f"... {done}/{total}", err=True)


# --- Replay of the journal's failures ---------------------------------------------------------


def _replay_failed(endpoint: Endpoint, paths: tuple[str, ...], dry_run: bool) -> NoReturn:
    current, config_prefix = endpoint.settings, endpoint.config_prefix
    for path in paths:
        if path == "-" or not os.path.exists(path):
            raise click.BadParameter(f"{path!r} is not a journal directory or file.", param_hint="FILE...")
    # Outcomes go to the app's own journal, else next to what was read; both are
    # read back, so that a second run sees what the first one did.
    sink = endpoint.journal or Journal(
        paths[0] if os.path.isdir(paths[0]) else os.path.dirname(os.path.abspath(paths[0])),
        max_bytes=current.journal_max_bytes,
        backups=current.journal_backups,
    )
    found = failed_deliveries(*paths, history=[sink.directory], on_problem=_report_journal_problem)
    mine = [entry for entry in found if entry.endpoint == config_prefix]
    for other in sorted({entry.endpoint for entry in found} - {config_prefix}):
        count = sum(1 for entry in found if entry.endpoint == other)
        click.secho(
            f"Skipped {count} delivery(ies) of endpoint {other}: replay them with that endpoint's command group.",
            fg="yellow",
            err=True,
        )
    if not mine:
        click.echo("Nothing to replay: every journaled delivery was handled.")
        raise SystemExit(0)
    if dry_run:
        for entry in mine:
            click.echo(f"{entry.where} ({entry.id}, received {entry.received_at}): would re-run {_rerun_list(entry)}")
        events = sum(len(entry.indexes_to_rerun) for entry in mine)
        click.echo(f"Dry run: would replay {len(mine)} delivery(ies), {events} event(s).")
        raise SystemExit(0)
    rerun = succeeded = still_failing = incomplete = unrecorded = 0
    for entry in _progress(mine):
        rerun += len(entry.indexes_to_rerun)
        try:
            delivery = parse_delivery(restore_token(entry.delivery_raw, current.tokens), current.timezone)
        except HuggyError as exc:  # cannot happen to what the webhook journaled, unless edited
            incomplete += 1
            still_failing += len(entry.indexes_to_rerun)
            click.secho(
                f"{entry.where} ({entry.id}): unreadable delivery, {exc.code}: {exc.message}", fg="red", err=True
            )
            continue
        run = Run(delivery)
        error: Exception | None = None
        try:
            run_delivery(
                endpoint, delivery, only=entry.indexes_to_rerun, record_id=entry.id, journal=sink, replay=True, run=run
            )
        except Exception as exc:  # noqa: BLE001  # one delivery failing must not stop the others
            error = exc
        failing = run.remaining
        succeeded += len(entry.indexes_to_rerun) - len(failing)
        still_failing += len(failing)
        if error is not None:
            incomplete += 1
            click.secho(
                f"{entry.where} ({entry.id}): still failing: {_failure_list(entry, failing, run.outcomes, error)}",
                fg="red",
                err=True,
            )
        if run.unrecorded:
            unrecorded += 1
    click.echo(
        f"Replayed {len(mine)} delivery(ies): {rerun} event(s) re-run, {succeeded} succeeded, "
        f"{still_failing} still failing."
    )
    if unrecorded:
        click.secho(
            f"{unrecorded} outcome(s) could not be written to the journal in {sink.directory}: "
            "the next --failed run will re-run those events.",
            fg="red",
            err=True,
        )
    raise SystemExit(1 if incomplete or unrecorded else 0)


def _rerun_list(entry: JournaledDelivery) -> str:
    if not entry.indexes_to_rerun:
        return "delivery_received only (every event was handled)"
    return ", ".join(f"#{index} {entry.event_names[index]}" for index in entry.indexes_to_rerun)


def _failure_list(entry: JournaledDelivery, failing: list[int], outcomes: list[EventOutcome], error: Exception) -> str:
    errors = {o.index: o.error for o in outcomes if o.status is Outcome.FAILED}
    if not errors and failing:  # raised before the event ran, e.g. duplicate_in_flight
        errors[failing[0]] = f"{type(error).__name__}: {error}"
    parts = [f"#{index} {entry.event_names[index]}: {errors.get(index) or 'not reached'}" for index in failing]
    return "; ".join(parts) or f"delivery_received: {type(error).__name__}: {error}"


def _report_journal_problem(where: str, problem: str) -> None:
    click.secho(f"{where}: skipped, {problem}", fg="yellow", err=True)


# --- Handshake report ---------------------------------------------------------------------


def _report_confirmations(
    huggy: ConfirmationInterceptor, token: str, status: int, confirm_url: str | None, config_prefix: str
) -> None:
    if confirm_url is None:
        click.echo(f"3. The confirmation request is switched off ({config_prefix}CONFIRM_URL is unset).")
        return
    where = confirm_url + (
        " (the library's unverified default: see README)" if confirm_url == DEFAULT_CONFIRM_URL else ""
    )
    if not huggy.requests:
        click.secho(f"3. After answering, the app sent no confirmation request (it would go to {where}).", fg="yellow")
        return
    for sent in huggy.requests:
        click.echo(
            f"3. After answering, the app sent its confirmation request to {sent.url} with token "
            f"{mask_token(sent.token)} (intercepted; answered HTTP {status})."
        )
        if sent.token != token:
            click.secho("   It sent another token than the handshake carried.", fg="red")
    click.echo(f"   Outside this check it goes to {where}; its outcome never changes the answer above.")


def _handshake_answered(answer: _Answer, token: str) -> bool:
    """Whether ``answer`` is what Huggy's panel waits for: 200 and the token itself as the body."""
    return answer.status == 200 and answer.text == token


def _report_handshake_answer(answer: _Answer, token: str, step: str = "") -> bool:
    if _handshake_answered(answer, token):
        click.echo(
            f"{step}The app answered "
            + click.style(f"HTTP 200 {answer.content_type}, the token itself ({mask_token(token)})", fg="green")
            + ": Huggy's panel accepts the URL."
        )
        return True
    if answer.status is not None and 200 <= answer.status < 300:
        click.secho(
            f"{step}The app answered HTTP {answer.status} but not with the token itself: "
            "Huggy's panel would refuse the URL.",
            fg="red",
        )
    else:
        click.secho(f"{step}The app answered {answer.describe()}", fg="red")
    return False


__all__ = ["COMMANDS", "current_endpoint", "pass_endpoint", "register_commands"]
