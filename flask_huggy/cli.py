"""``flask huggy ...``: list the events, simulate and replay deliveries, check the handshake and settings, call the API.

The group reaches ``flask`` through the ``flask.commands`` entry point, as any
Flask plugin's commands do, so every app of a project that installs
flask-huggy has it. Its commands run in the app's context and, by default, post
to the app's own webhook through its test client: no server needs to run. A
second endpoint is chosen by name: ``flask huggy --endpoint huggy_b check``.

Text a request chose (event names, keys, stored errors) goes through
:func:`~flask_huggy.safelog.printable` before it reaches the terminal, so that a
forged name cannot clear the screen or forge a line of output.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import Any, Concatenate, NoReturn, ParamSpec, TypeVar

import click
import requests
from flask import current_app
from flask.cli import AppGroup

from ._version import __version__
from .auth import mask_token, restore_token
from .catalog import EVENTS
from .config import SETTINGS, Setting, read_settings, unknown_keys
from .dispatch import Outcome
from .endpoint import EXTENSION_KEY, Endpoint, get_endpoint
from .envelope import is_handshake, parse_delivery
from .errors import ConfigError, DeliveryRejected, HuggyAPIError
from .handshake import confirmations
from .journal import KINDS, Journal, JournaledDelivery, failed_deliveries
from .runner import Run, run_delivery
from .safelog import printable
from .signals import EVENT_SIGNALS, huggy_signals, token_validated
from .testing import (
    SAMPLE_TOKEN,
    ConfirmationInterceptor,
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
_EVENT = click.Choice(list(EVENTS))
_url_option = click.option("--url", help="POST to this URL (a running server) instead of this app's own webhook.")
_timeout_option = click.option("--timeout", type=float, default=10.0, help="Seconds to wait for --url (10).")


@click.group("huggy", cls=AppGroup)
@click.option("--endpoint", default="huggy", show_default=True, help="The name of the app's Huggy endpoint.")
@click.pass_context
def cli(ctx: click.Context, endpoint: str) -> None:
    """Work with the Huggy webhook without Huggy: list its events, simulate and replay
    deliveries, check the handshake and the settings."""
    ctx.meta["huggy.endpoint"] = endpoint


def current_endpoint() -> Endpoint:
    """The endpoint that ``flask huggy --endpoint NAME`` chose, in the current app."""
    name: str = click.get_current_context().meta.get("huggy.endpoint", "huggy")
    try:
        return get_endpoint(current_app, name)
    except ConfigError:
        known = ", ".join(current_app.extensions.get(EXTENSION_KEY, {})) or "none"
        raise click.UsageError(
            f"This app has no Huggy endpoint named {name!r} (its endpoints: {known}); "
            "register flask_huggy.blueprint or use Huggy(app), and choose one with --endpoint."
        ) from None


def pass_endpoint(command: Callable[Concatenate[Endpoint, _P], _T]) -> Callable[_P, _T]:
    """Give ``command`` the endpoint chosen with ``--endpoint`` as its first argument.

    For commands of the ``huggy`` group (``@cli.command()``, which runs them in
    the app's context): the endpoint is looked up when the command runs, in the
    app that ``flask --app`` loaded.
    """

    @functools.wraps(command)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        return command(current_endpoint(), *args, **kwargs)

    return run


# --- events -------------------------------------------------------------------------------------


@cli.command("events")
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
        receivers = sum(1 for _ in EVENT_SIGNALS[name].receivers_for(app))
        rows.append((name, f"signals.{spec.signal_attribute}", "yes" if spec.deprecated else "", str(receivers)))
    rows.append(("", "", "", ""))
    for name, signal in huggy_signals.items():
        if name not in EVENTS:
            rows.append(
                (f"({name})", f"signals.{attributes[name]}", "", str(sum(1 for _ in signal.receivers_for(app))))
            )
    _echo_table(rows)


# --- simulate -----------------------------------------------------------------------------------


@cli.command("simulate")
@click.argument("event", type=_EVENT, metavar="EVENT")
@click.option("--chain", type=_EVENT, multiple=True, metavar="EVENT", help="Another event of the same chat.")
@click.option("--set", "assignments", multiple=True, metavar="FIELD=VALUE", help="Set a field of the first event.")
@_url_option
@click.option("--token", help="The delivery's token. Default: the app's configured token.")
@click.option("--print", "print_only", is_flag=True, help="Print the delivery (no token unless --token); send nothing.")
@_timeout_option
@pass_endpoint
def simulate_command(
    endpoint: Endpoint,
    event: str,
    chain: tuple[str, ...],
    assignments: tuple[str, ...],
    url: str | None,
    token: str | None,
    print_only: bool,
    timeout: float,
) -> None:
    """Build a realistic delivery of EVENT from Huggy's docs and post it.

    --chain adds an event (repeatable); all events share one chat and
    customer. --set changes a field of the first event (repeatable): a
    dotted FIELD reaches inside (chat.id=5), and VALUE is read as JSON when
    it parses (5, true, null, '"5"'), else as text.

    Ids are fresh, the delivery's time is now, and timestamps such as
    send_at and closed_at say the same instant in Brazil local time
    (HUGGY_TIMEZONE), as Huggy writes them. Without --url the delivery goes
    to this app's webhook through its test client: no server needed.

    --print writes a file that replay and flask_huggy.testing.post_delivery
    take as it is: they fill in the configured token, so the app's secret
    never lands in a file, a terminal or a bug report.

    \b
    Examples:
      flask huggy simulate closedChat
      flask huggy simulate receivedMessage --set body=Oi --chain closedChat
      flask huggy simulate receivedMessage --set chat.id=5 --print > message.json
    """
    delivery = _fresh_delivery((event, *chain), endpoint.settings.timezone, token)
    first = next(iter(delivery["messages"].values()))[0]
    for assignment in assignments:
        path, sep, text = assignment.partition("=")
        if not sep or not path:
            raise click.BadParameter(f"{assignment!r} is not FIELD=VALUE.", param_hint="--set")
        try:
            set_field(first, path, _json_or_text(text))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--set") from None
    if print_only:
        click.echo(json.dumps(delivery, indent=2, ensure_ascii=False))
        return
    answer = _post(endpoint, _with_token(delivery, None, endpoint), url, timeout)
    names = ", ".join((event, *chain))
    if not answer.accepted:
        click.secho(f"{names} -> {answer.target}: refused, {answer.describe()}", fg="red", err=True)
        raise SystemExit(1)
    click.echo(f"{names} -> {answer.target}: {click.style(answer.describe(), fg='green')}")


# --- replay -------------------------------------------------------------------------------------


@cli.command("replay")
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True), metavar="FILE...")
@click.option("--failed", is_flag=True, help="FILE... is HUGGY_JOURNAL: re-run the events that never succeeded.")
@_url_option
@click.option("--token", help="Replace each delivery's token. Default: the recorded one, else the app's.")
@click.option("--dry-run", is_flag=True, help="Check every delivery, or list what --failed would re-run; send nothing.")
@_timeout_option
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

    Each FILE ('-' for stdin) holds one delivery as a JSON document (what
    simulate --print writes), or JSON lines: one delivery per line.
    A delivery without a token gets the app's. Handshakes are skipped:
    replaying one would send a real confirmation to Huggy.

    With --failed, FILE... is the delivery journal (a directory or files):
    the events that never succeeded run again in this process, exactly
    those, and their outcome is added to the journal, so that a second run
    re-runs only what still fails. Every dead letter is in the journal.

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
    records = [record for path in files for record in _read_file(path)]
    unreadable = [r for r in records if r.problem]
    for record in unreadable:
        click.secho(f"{record.where}: unreadable, {record.problem}", fg="red", err=True)
    skipped = sum(1 for r in records if r.handshake)
    deliveries = [(r.where, _with_token(r.payload, token, endpoint)) for r in records if r.payload is not None]
    tail = (f", skipped {skipped} handshake(s)" if skipped else "") + (
        f", unreadable {len(unreadable)}" if unreadable else ""
    )
    if dry_run:
        refused = sum(not _dry_run(where, payload, endpoint) for where, payload in deliveries)
        click.echo(f"Dry run: would send {len(deliveries)}, would be refused {refused}{tail}.")
        raise SystemExit(1 if refused or unreadable else 0)
    accepted = refused = 0
    for where, payload in _progress(deliveries):
        answer = _post(endpoint, payload, url, timeout)
        if answer.accepted:
            accepted += 1
            continue
        refused += 1
        hint = " (recorded with another token? try --token)" if answer.status == 403 else ""
        click.secho(f"{where}: refused, {answer.describe()}{hint}", fg="red", err=True)
        if answer.status is None:
            click.secho("Stopped: the receiver cannot be reached.", fg="red", err=True)
            break
    click.echo(f"Sent {accepted + refused}, accepted {accepted}, refused {refused}{tail}.")
    raise SystemExit(1 if refused or unreadable else 0)


@dataclass
class _Record:
    #: "file" or "file:12": where to look when something is wrong.
    where: str
    payload: dict[str, Any] | None = None
    problem: str | None = None
    handshake: bool = False


def _read_file(path: str) -> Iterator[_Record]:
    """The deliveries of one file: a whole JSON document, else JSON lines."""
    name = "<stdin>" if path == "-" else path
    if path != "-" and os.path.isdir(path):
        raise click.BadParameter(f"{path!r} is a directory; to replay a journal directory, add --failed.")
    try:
        with click.open_file(path, encoding="utf-8") as stream:
            text = stream.read()
    except (OSError, UnicodeDecodeError) as exc:
        yield _Record(name, problem=f"cannot be read ({exc})")
        return
    try:
        yield _record(name, json.loads(text))
        return
    except ValueError:
        pass
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield _record(f"{name}:{number}", json.loads(line))
            except ValueError as exc:
                yield _Record(f"{name}:{number}", problem=f"not JSON ({exc})")


def _record(where: str, item: Any) -> _Record:
    if not isinstance(item, dict):
        return _Record(where, problem=f"a JSON {type(item).__name__}, not a delivery object")
    if item.get("kind") in KINDS:
        return _Record(where, problem="a journal record: replay the journal with --failed")
    if is_handshake(item):
        return _Record(where, handshake=True)
    if "messages" not in item:
        return _Record(where, problem="not a delivery: no 'messages'")
    return _Record(where, payload=item)


def _with_token(payload: dict[str, Any], override: str | None, endpoint: Endpoint) -> dict[str, Any]:
    """``payload`` with ``override`` as its token, else its own, else the app's (as ``post_delivery`` does)."""
    if override is not None:
        return {**payload, "token": override}
    if "token" not in payload:
        return {**payload, "token": configured_token(endpoint.app, endpoint.name) or SAMPLE_TOKEN}
    return payload


def _dry_run(where: str, payload: dict[str, Any], endpoint: Endpoint) -> bool:
    """Check ``payload`` as the webhook would and say so; whether it would be accepted."""
    try:
        delivery = parse_delivery(payload, endpoint.settings.timezone)
    except DeliveryRejected as exc:
        details = f" {json.dumps(exc.details, ensure_ascii=False)}" if exc.details else ""
        click.secho(f"{where}: would be refused, {exc.error}: {printable(exc.message + details)}", fg="red", err=True)
        return False
    invalid = [printable(event.name) for event in delivery.events if not event.validate()]
    summary = f"{where}: {len(delivery.events)} event(s)"
    if invalid:
        summary += f", invalid: {', '.join(invalid)}"
        if endpoint.settings.strict:
            click.echo(summary + " (refused: HUGGY_STRICT is on)")
            return False
    click.echo(summary)
    return True


def _progress(items: list[_T]) -> Iterator[_T]:
    """``items``, with a progress bar on a terminal, else a count every :data:`PROGRESS_EVERY`."""
    total = len(items)
    if total > 1 and sys.stderr.isatty():
        with click.progressbar(items, label="Replaying", file=sys.stderr) as bar:
            yield from bar
        return
    for done, item in enumerate(items, 1):
        yield item
        if total > PROGRESS_EVERY and (done % PROGRESS_EVERY == 0 or done == total):
            click.echo(f"... {done}/{total}", err=True)


def _replay_failed(endpoint: Endpoint, paths: tuple[str, ...], dry_run: bool) -> NoReturn:
    settings = endpoint.settings
    for path in paths:
        if path == "-" or not os.path.exists(path):
            raise click.BadParameter(f"{path!r} is not a journal directory or file.", param_hint="FILE...")
    # Outcomes go to the app's own journal, else next to what was read; both are
    # read back, so that a second run sees what the first one did.
    sink = endpoint.journal or Journal(
        paths[0] if os.path.isdir(paths[0]) else os.path.dirname(os.path.abspath(paths[0])),
        max_bytes=settings.journal_max_bytes,
        backups=settings.journal_backups,
    )
    found = failed_deliveries(*paths, history=[sink.directory], on_problem=_report_journal_problem)
    mine = [entry for entry in found if entry.endpoint == endpoint.config_prefix]
    if len(mine) < len(found):
        click.secho(
            f"Skipped {len(found) - len(mine)} delivery(ies) of other endpoints: replay them with "
            "flask huggy --endpoint <name> replay --failed.",
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
    rerun = succeeded = incomplete = unrecorded = 0
    for entry in _progress(mine):
        rerun += len(entry.indexes_to_rerun)
        run: Run | None = None
        try:
            run = Run(parse_delivery(restore_token(entry.delivery_raw, settings.tokens), settings.timezone))
            run_delivery(
                endpoint,
                run.delivery,
                only=entry.indexes_to_rerun,
                record_id=entry.id,
                journal=sink,
                replay=True,
                run=run,
            )
        except Exception as exc:  # noqa: BLE001  # one delivery failing must not stop the others
            incomplete += 1
            click.secho(
                f"{entry.where} ({entry.id}): still failing: {_failure_list(entry, run, exc)}", fg="red", err=True
            )
        if run is not None:
            succeeded += len(entry.indexes_to_rerun) - len(run.remaining)
            unrecorded += run.unrecorded
    click.echo(
        f"Replayed {len(mine)} delivery(ies): {rerun} event(s) re-run, {succeeded} succeeded, "
        f"{rerun - succeeded} still failing."
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
    return ", ".join(f"#{index} {printable(entry.event_names[index])}" for index in entry.indexes_to_rerun)


def _failure_list(entry: JournaledDelivery, run: Run | None, error: Exception) -> str:
    """Each event still to run, with the error it stored (text a request or a receiver chose, escaped)."""
    failing = run.remaining if run is not None else list(entry.indexes_to_rerun)
    errors = {o.index: o.error for o in (run.outcomes if run else []) if o.status is Outcome.FAILED}
    if not errors and failing:  # raised before the event ran: duplicate_in_flight, an edited journal
        errors[failing[0]] = f"{type(error).__name__}: {error}"
    parts = [f"#{i} {printable(entry.event_names[i])}: {printable(errors.get(i) or 'not reached')}" for i in failing]
    return "; ".join(parts) or f"delivery_received: {printable(f'{type(error).__name__}: {error}')}"


def _report_journal_problem(where: str, problem: str) -> None:
    click.secho(f"{where}: skipped, {printable(problem)}", fg="yellow", err=True)


# --- handshake ----------------------------------------------------------------------------------


@cli.command("handshake")
@click.option("--token", help="The handshake's token. Default: the app's configured token.")
@click.option("--huggy-status", type=int, default=200, help="How the confirmation request is answered (200).")
@pass_endpoint
def handshake_command(endpoint: Endpoint, token: str | None, huggy_status: int) -> None:
    """Play Huggy's URL check against the app, end to end.

    Posts {"token": ..., "validToken": true} as Huggy does when a URL is
    saved in its panel, and checks that the answer is the token itself
    (what Huggy's panel waits for). The confirmation request the app sends
    afterwards is intercepted in this process and answered with
    --huggy-status (404 shows that it changes nothing Huggy's panel sees),
    so nothing reaches Huggy; the command reports each step. To check a
    running server, use check --url.
    """
    app, prefix, settings = endpoint.app, endpoint.config_prefix, endpoint.settings
    token = token or configured_token(app, endpoint.name) or secrets.token_hex(16)
    if not settings.tokens:
        click.secho(f"{prefix}WEBHOOK_TOKEN is not set: the app answers any handshake (first setup).", fg="yellow")
    click.echo(f"1. Huggy posts the handshake to {webhook_url(app, endpoint.name)} with token {mask_token(token)}.")
    with ConfirmationInterceptor(huggy_status, app=app) as huggy, SignalRecorder(sender=app) as recorded:
        answer = _post(endpoint, build_handshake(token), None, 0)
        confirmations.join()  # the confirmation is sent off the request's thread
    answered = _report_handshake_answer(answer, token, step="2. ")
    if answered and settings.confirm_url is None:
        click.echo(f"3. The confirmation request is switched off ({prefix}CONFIRM_URL is unset).")
    for sent in huggy.requests if answered else ():
        click.echo(
            f"3. After answering, the app sent its confirmation request to {sent.url} with token "
            f"{mask_token(sent.token)} (intercepted; answered HTTP {huggy_status})."
        )
    calls = recorded.calls_to(token_validated)
    outcome = f" with confirmed={calls[-1].kwargs.get('confirmed')!r}" if calls else ""
    receivers = sum(1 for _ in token_validated.receivers_for(app))
    click.echo(
        f"4. token_validated fired {len(calls)} time(s){outcome}; {receivers} receiver(s) connected in this app."
    )
    raise SystemExit(0 if answered else 1)


def _report_handshake_answer(answer: _Answer, token: str, step: str = "") -> bool:
    """Say whether ``answer`` is what Huggy's panel waits for: 200 and the token itself as the body."""
    if answer.status == 200 and answer.text == token:
        said = f"HTTP 200 {answer.content_type}, the token itself ({mask_token(token)})"
        click.echo(f"{step}The app answered {click.style(said, fg='green')}: Huggy's panel accepts the URL.")
        return True
    if answer.accepted:
        click.secho(
            f"{step}The app answered HTTP {answer.status} but not with the token itself: "
            "Huggy's panel would refuse the URL.",
            fg="red",
        )
    else:
        click.secho(f"{step}The app answered {answer.describe()}", fg="red")
    return False


# --- check --------------------------------------------------------------------------------------


@cli.command("api")
@click.argument("method", type=click.Choice(["GET", "POST", "PUT", "PATCH", "DELETE"], case_sensitive=False))
@click.argument("path")
@click.option("--json", "body", metavar="JSON", help="The request's JSON body.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="A query parameter (repeatable).")
@pass_endpoint
def api_command(endpoint: Endpoint, method: str, path: str, body: str | None, params: tuple[str, ...]) -> None:
    """Call Huggy's REST API with HUGGY_API_TOKEN and print its JSON answer: try a call from a terminal.

    \b
    flask huggy api GET /agents/profile
    flask huggy api POST /chats/3212/messages --json '{"text": "Olá!"}'

    The token never appears in the output. Retries as the client does (reads
    only: a write made here is sent once).
    """
    try:
        payload = json.loads(body) if body is not None else None
    except ValueError as exc:
        raise click.BadParameter(f"not JSON ({exc})", param_hint="--json") from None
    query: dict[str, str] = {}
    for param in params:
        name, sep, value = param.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{printable(param)!r} is not NAME=VALUE", param_hint="--param")
        query[name] = value
    secret = endpoint.settings.api_token or ""
    try:
        answer = endpoint.api.request(method, path, json=payload, params=query or None)
    except (HuggyAPIError, ConfigError, ValueError) as exc:
        raise click.ClickException(_hide(printable(str(exc), 1000), secret)) from None
    text = "(empty answer)" if answer is None else json.dumps(answer, indent=2, ensure_ascii=False)
    click.echo(_hide(text, secret))


def _hide(text: str, secret: str) -> str:
    return text.replace(secret, mask_token(secret)) if secret else text


@cli.command("check")
@click.option("--url", help="Also post a handshake and a delivery to this URL (a running server).")
@click.option("--token", help="The token sent to --url. Default: the app's configured token.")
@_timeout_option
@pass_endpoint
def check_command(endpoint: Endpoint, url: str | None, token: str | None, timeout: float) -> None:
    """Check that deliveries to this webhook will be accepted; with --url, check a running server.

    Prints the settings the endpoint read when it was registered (tokens and
    header values masked), and says which app.config has changed since: the
    app sees those only after a restart. Fails when deliveries will fail: no
    token (unless ALLOW_UNAUTHENTICATED is on), a HUGGY_* key that is no
    setting (a typo, or a setting that was removed), or an unusable value.

    With --url, posts what Huggy posts: a handshake, which must be answered
    HTTP 200 with exactly the token as the body, then a closedChat delivery,
    which must be answered 2xx. They are real requests: that server's
    receivers run, and it sends its confirmation to its CONFIRM_URL.

    \b
    Examples:
      flask huggy check
      flask huggy check --url https://myapp.example.com/huggy/webhook

    Exits with 1 on any problem.
    """
    problems = _check_settings(endpoint)
    for problem in problems:
        click.secho(problem, fg="red")
    ok = not problems
    click.secho(
        "Deliveries will be accepted." if ok else f"{len(problems)} problem(s): deliveries will fail.",
        fg="green" if ok else "red",
    )
    if url is not None:
        token = token or configured_token(endpoint.app, endpoint.name) or SAMPLE_TOKEN
        click.echo(f"\nPosting to {url} with token {mask_token(token)}:")
        answer = _post(endpoint, build_handshake(token), url, timeout)
        ok = _report_handshake_answer(answer, token, step="1. Handshake: ") and ok
        answer = _post(endpoint, _fresh_delivery(["closedChat"], endpoint.settings.timezone, token), url, timeout)
        said = f"2. A closedChat delivery: the app answered {answer.describe()}"
        click.secho(
            said if answer.accepted else f"{said}; Huggy needs a 2xx.", fg="green" if answer.accepted else "red"
        )
        ok = ok and answer.accepted
    raise SystemExit(0 if ok else 1)


def _check_settings(endpoint: Endpoint) -> list[str]:
    """Print the endpoint's settings; return what will make deliveries fail, one sentence each."""
    config, prefix, used = endpoint.app.config, endpoint.config_prefix, endpoint.settings
    problems: list[str] = []
    try:
        now = read_settings(config, prefix)
    except ConfigError as exc:
        problems.append(f"Unusable: {exc}")
        now = used
    click.echo(f"Settings of endpoint {endpoint.name!r}, read when it was registered:")
    rows = [(prefix + entry.key, _show(entry, getattr(used, entry.attr))) for entry in SETTINGS]
    for entry in SETTINGS:
        if getattr(now, entry.attr) != getattr(used, entry.attr):
            key = prefix + entry.key
            rows.append((key, f"{entry.show(config.get(key))} in app.config now: seen after a restart"))
    _echo_table(rows)
    prefixes = [other.config_prefix for other in endpoint.app.extensions[EXTENSION_KEY].values()]
    for key, close in sorted(unknown_keys(config, prefixes).items()):
        hint = f"did you mean {close}?" if close else "a typo, or a removed setting?"
        problems.append(f"{printable(key)} is in app.config but is no setting ({hint})")
    if not used.tokens:
        key = prefix + "WEBHOOK_TOKEN"
        if f"FLASK_{key}" in os.environ:
            hint = (
                f": FLASK_{key} is set in the environment but not in app.config: "
                "call app.config.from_prefixed_env() in your factory"
            )
        elif key in os.environ:
            hint = (
                f": {key} is set in the environment but not in app.config; Flask does not read it: name it "
                f"FLASK_{key} and call app.config.from_prefixed_env() in your factory"
            )
        else:
            hint = ": set it to the token shown in Huggy's panel"
        if used.allow_unauthenticated:
            click.secho(
                f"Warning: {key} is not set; ALLOW_UNAUTHENTICATED is on, so anyone may post deliveries.", fg="yellow"
            )
        else:
            problems.append(f"{key} is not set, so every delivery gets 403{hint}.")
    return problems


def _show(entry: Setting, value: Any) -> str:
    """A setting's value as read: a zone by its name, the rest as its setting shows it (secrets masked)."""
    if isinstance(value, tzinfo):
        return repr(str(value))
    if entry.key == "CONFIRM_HEADERS":
        return entry.show(dict(value))
    return entry.show(value)


# --- Shared -------------------------------------------------------------------------------------


@dataclass
class _Answer:
    """What the receiver answered: a status and body, or, when nothing answered, why."""

    target: str
    #: HTTP status, or None when nothing answered.
    status: int | None
    text: str = ""
    content_type: str = ""
    problem: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        if self.status is None:
            return str(self.problem)
        body = _json_or_text(self.text)
        if isinstance(body, dict) and "error" in body:
            return printable(f"HTTP {self.status} {body['error']}: {body.get('message', '')}")
        if isinstance(body, dict):  # a confirmed handshake echoes the token: keep it out of terminals
            body = {key: mask_token(value) if key == "token" else value for key, value in body.items()}
        shown = json.dumps(body, ensure_ascii=False) if isinstance(body, (dict, list)) else body
        return printable(f"HTTP {self.status} {shown}".rstrip())


def _post(endpoint: Endpoint, body: Mapping[str, Any], url: str | None, timeout: float) -> _Answer:
    """POST ``body`` as JSON to ``url``, or to the endpoint's webhook through the app's test client."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    if url is None:
        app, path = endpoint.app, webhook_url(endpoint.app, endpoint.name)
        try:
            with app.test_client().post(path, data=data, content_type="application/json") as response:
                text = response.get_data(as_text=True)  # closed on leaving, as a server closes it
        except Exception as exc:  # noqa: BLE001  # a receiver raised and the app propagates it (TESTING)
            message = json.dumps({"error": "receiver_raised", "message": f"{type(exc).__name__}: {exc}"})
            return _Answer(path, 500, message)
        return _Answer(path, response.status_code, text, response.content_type)
    try:
        answer = requests.post(
            url,
            data=data,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.Timeout:
        return _Answer(url, None, problem=f"{url} did not answer within {timeout:g} s")
    except requests.RequestException as exc:
        return _Answer(url, None, problem=f"{url} cannot be reached ({type(exc).__name__})")
    return _Answer(url, answer.status_code, answer.text, answer.headers.get("Content-Type", ""))


def _fresh_delivery(names: Sequence[str], tz: tzinfo, token: str | None) -> dict[str, Any]:
    """A delivery of ``names`` as Huggy would send it now: one new chat and customer, fresh ids."""
    epoch = int(datetime.now(timezone.utc).timestamp())
    chat_id, customer_id = fresh_id(), fresh_id()
    events = [build_event(name, chat_id=chat_id, customer_id=customer_id, at=epoch, timezone=tz) for name in names]
    return build_delivery(*events, token=token, time=epoch, timezone=tz)


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _echo_table(rows: Sequence[Sequence[str]]) -> None:
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


__all__ = ["cli", "current_endpoint", "pass_endpoint"]
