"""``flask huggy ...``: the commands a developer runs instead of waiting for Huggy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import pytest
import responses
from click.testing import Result
from flask import Flask, Response, request
from werkzeug.serving import make_server

import flask_huggy
from flask_huggy import signals
from flask_huggy.cli import PROGRESS_EVERY, pass_endpoint, simulate_command
from flask_huggy.config import DEFAULTS, SETTINGS
from flask_huggy.endpoint import Endpoint
from flask_huggy.samples import TEMPLATES
from flask_huggy.testing import SignalRecorder, build_delivery

from .conftest import TOKEN, create_app, load_payload


def run(app: Flask, *args: str, color: bool = False, input: str | None = None) -> Result:
    """``flask huggy <args>`` against ``app``, as a user types it."""
    return app.test_cli_runner().invoke(args=["huggy", *args], color=color, input=input)


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """``app`` served over real HTTP on a free port of localhost, until the block ends; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def live_app() -> Iterator[tuple[Flask, str]]:
    """Another app served over real HTTP on localhost, for --url: the receiver, not Huggy."""
    app = create_app()
    with serving(app) as base:
        yield app, f"{base}/huggy/webhook"


@pytest.fixture
def no_request_leaves() -> Iterator[responses.RequestsMock]:
    """Any request that escapes to the network is caught here (and fails the assertion on its calls)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://127.0.0.1")
        yield mock


def write_lines(path: Path, items: list[Any]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return path


# --- The group -----------------------------------------------------------------------------


def test_the_blueprint_registers_a_huggy_command_group(app: Flask) -> None:
    result = run(app, "--help")

    assert result.exit_code == 0
    for command in ("events", "simulate", "replay", "handshake", "check"):
        assert command in result.output


@pytest.mark.parametrize("command", ["events", "simulate", "replay", "handshake", "check"])
def test_every_command_has_help(app: Flask, command: str) -> None:
    result = run(app, command, "--help")

    assert result.exit_code == 0
    assert result.output.startswith(f"Usage: huggy {command}") or f"huggy {command}" in result.output


def test_the_flask_command_runs_the_group_of_the_example_app() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUGGY_", "FLASK_"))}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "example_app", "huggy", "simulate", "closedChat"],
        cwd=Path(__file__).parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "closedChat -> /huggy/webhook: HTTP 200" in result.stdout
    assert "example_app INFO closedChat chat=" in result.stderr  # the example app's receiver logged it


def test_a_second_endpoint_gets_its_own_group(app: Flask) -> None:
    app.config["HUGGY_B_WEBHOOK_TOKEN"] = "token-of-account-b"
    app.register_blueprint(flask_huggy.make_blueprint("huggy_b", url_prefix="/huggy-b", config_prefix="HUGGY_B_"))
    received = []

    @signals.closed_chat.connect_via(app)
    def on_closed(sender: Flask, event: Any, delivery: Any, **extra: Any) -> None:
        received.append(delivery.token)

    result = app.test_cli_runner().invoke(args=["huggy_b", "simulate", "closedChat"])

    assert result.exit_code == 0, result.output
    assert "/huggy-b/webhook" in result.output
    assert received == ["token-of-account-b"]


def test_every_endpoints_group_runs_the_same_commands_for_its_own_endpoint(app: Flask) -> None:
    app.register_blueprint(flask_huggy.make_blueprint("huggy_b", url_prefix="/huggy-b", config_prefix="HUGGY_B_"))

    assert run(app, "--help").exit_code == 0  # loads the commands of each group
    assert app.test_cli_runner().invoke(args=["huggy_b", "--help"]).exit_code == 0
    default, second = (app.cli.commands[name] for name in ("huggy", "huggy_b"))
    assert default is not second
    assert default.commands["simulate"] is second.commands["simulate"] is simulate_command  # type: ignore[attr-defined]


def test_a_command_of_ones_own_gets_the_endpoint_of_its_group(app: Flask) -> None:
    blueprint = flask_huggy.make_blueprint("huggy_b", url_prefix="/huggy-b", config_prefix="HUGGY_B_")

    @blueprint.cli.command("where")
    @pass_endpoint
    def where(endpoint: Endpoint) -> None:
        click.echo(f"{endpoint.name} {endpoint.config_prefix} {endpoint.app.name}")

    app.register_blueprint(blueprint)
    result = app.test_cli_runner().invoke(args=["huggy_b", "where"])

    assert result.exit_code == 0, result.output
    assert result.output == f"huggy_b HUGGY_B_ {app.name}\n"


def test_a_command_outside_an_endpoints_group_says_where_it_runs(app: Flask) -> None:
    app.cli.add_command(simulate_command)

    result = app.test_cli_runner().invoke(args=["simulate", "closedChat"])

    assert result.exit_code == 2
    assert "runs under the group of a Huggy endpoint (flask <endpoint name> <command>)" in result.output
    assert "this app's endpoints: 'huggy'" in result.output


# --- events ---------------------------------------------------------------------------------


def test_events_lists_every_event_with_its_signal(app: Flask) -> None:
    result = run(app, "events")

    assert result.exit_code == 0
    for name in TEMPLATES:
        assert name in result.output
    assert "signals.closed_chat" in result.output
    assert "signals.event_received" in result.output


def test_events_marks_the_deprecated_ones(app: Flask) -> None:
    rows = {line.split()[0]: line.split() for line in run(app, "events").output.splitlines() if line.strip()}

    assert "yes" in rows["createdChat"] and "yes" in rows["answeredChatForm"]
    assert "yes" not in rows["startedChat"]


def test_events_counts_the_receivers_connected_in_this_app(app: Flask) -> None:
    other = create_app()

    @signals.closed_chat.connect_via(app)
    def mine(sender: Flask, **extra: Any) -> None: ...

    @signals.closed_chat.connect_via(other)
    def theirs(sender: Flask, **extra: Any) -> None: ...

    rows = {line.split()[0]: line.split() for line in run(app, "events").output.splitlines() if line.strip()}

    assert rows["closedChat"][-1] == "1"
    assert rows["agentEntered"][-1] == "0"


# --- simulate -------------------------------------------------------------------------------


def test_simulate_posts_the_event_to_the_apps_own_webhook(app: Flask, recorder: SignalRecorder) -> None:
    result = run(app, "simulate", "closedChat")

    assert result.exit_code == 0, result.output
    assert "HTTP 200" in result.output
    (event,) = recorder.events("closedChat")
    assert event.errors is None
    assert recorder.deliveries()[0].token == TOKEN


def test_simulate_stamps_now_in_brazil_local_time(app: Flask, recorder: SignalRecorder) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)

    run(app, "simulate", "closedChat")

    delivery = recorder.deliveries()[0]
    closed_at = delivery.events[0].raw["closed_at"]
    assert before <= delivery.time <= datetime.now(timezone.utc)
    assert closed_at == delivery.time.astimezone(ZoneInfo("America/Sao_Paulo")).strftime("%Y-%m-%d %H:%M:%S")
    assert delivery.events[0].data["closed_at"] == delivery.time


def test_simulate_chains_events_of_one_chat_in_order(app: Flask, recorder: SignalRecorder) -> None:
    result = run(app, "simulate", "startedChat", "--chain", "receivedMessage", "--chain", "closedChat")

    assert result.exit_code == 0, result.output
    events = recorder.events("huggy.event_received")
    assert [e.name for e in events] == ["startedChat", "receivedMessage", "closedChat"]
    assert events[0].data["id"] == events[1].data["chat"]["id"] == events[2].data["id"]


def test_simulate_set_changes_fields_of_the_first_event(app: Flask, recorder: SignalRecorder) -> None:
    result = run(
        app,
        "simulate",
        "receivedMessage",
        "--set",
        "chat.id=5",
        "--set",
        "body=Oi",
        "--set",
        'sender.name="42"',
        "--chain",
        "closedChat",
    )

    assert result.exit_code == 0, result.output
    (message,) = recorder.events("receivedMessage")
    assert message.raw["chat"]["id"] == 5
    assert message.raw["body"] == "Oi"
    assert message.raw["sender"]["name"] == "42"
    assert recorder.events("closedChat")[0].raw["id"] != 5


def test_simulate_refuses_a_set_without_equals(app: Flask, recorder: SignalRecorder) -> None:
    result = run(app, "simulate", "closedChat", "--set", "id")

    assert result.exit_code == 2
    assert "FIELD=VALUE" in result.output
    assert recorder.calls == []


def test_simulate_print_shows_the_delivery_and_sends_nothing(app: Flask, recorder: SignalRecorder) -> None:
    result = run(app, "simulate", "closedChat", "--set", "id=30608118", "--print")

    assert result.exit_code == 0
    delivery = json.loads(result.output)
    assert list(delivery) == ["time", "messages", "token"]
    assert delivery["messages"]["closedChat"][0]["id"] == 30608118
    assert delivery["token"] == "****" + TOKEN[-4:]  # a secret: masked unless asked for
    assert TOKEN not in result.output
    assert recorder.calls == []


def test_simulate_print_shows_the_token_only_when_asked(app: Flask) -> None:
    result = run(app, "simulate", "closedChat", "--print", "--show-token")

    assert json.loads(result.output)["token"] == TOKEN


def test_simulate_with_a_wrong_token_fails_with_the_apps_reason(app: Flask, recorder: SignalRecorder) -> None:
    result = run(app, "simulate", "closedChat", "--token", "0" * 32)

    assert result.exit_code == 1
    assert "HTTP 403 invalid_token" in result.output
    assert recorder.names() == ["huggy.delivery_refused"]  # and nothing else


def test_simulate_refuses_an_event_it_does_not_know(app: Flask) -> None:
    result = run(app, "simulate", "chatTransferred")

    assert result.exit_code == 2
    assert "chatTransferred" in result.output


def test_simulate_reports_a_receiver_that_raised(app: Flask) -> None:
    @signals.closed_chat.connect_via(app)
    def broken(sender: Flask, **extra: Any) -> None:
        raise RuntimeError("database is down")

    result = run(app, "simulate", "closedChat")

    assert result.exit_code == 1
    assert "RuntimeError: database is down" in result.output


def test_simulate_posts_to_a_url_over_http(app: Flask, live_app: tuple[Flask, str]) -> None:
    server_app, url = live_app
    received = []

    @signals.closed_chat.connect_via(server_app)
    def on_closed(sender: Flask, event: Any, **extra: Any) -> None:
        received.append(event.raw["id"])

    result = run(app, "simulate", "closedChat", "--set", "id=77", "--url", url)

    assert result.exit_code == 0, result.output
    assert url in result.output
    assert received == [77]


def test_simulate_fails_when_the_url_refuses(app: Flask, live_app: tuple[Flask, str]) -> None:
    server_app, url = live_app
    server_app.config["HUGGY_WEBHOOK_TOKEN"] = "another-token-of-the-server"

    result = run(app, "simulate", "closedChat", "--url", url)

    assert result.exit_code == 1
    assert "refused, HTTP 403 invalid_token" in result.output


def test_simulate_fails_clearly_when_the_url_cannot_be_reached(app: Flask) -> None:
    result = run(app, "simulate", "closedChat", "--url", "http://127.0.0.1:9/huggy/webhook", "--timeout", "2")

    assert result.exit_code == 1
    assert "cannot be reached" in result.output


def test_output_has_colour_only_when_asked_for_a_terminal(app: Flask) -> None:
    plain = run(app, "simulate", "closedChat", "--token", "0" * 32)
    coloured = run(app, "simulate", "closedChat", "--token", "0" * 32, color=True)

    assert "\x1b[" not in plain.output
    assert "\x1b[31m" in coloured.output


# --- replay ---------------------------------------------------------------------------------


def test_replay_posts_a_json_file_holding_one_delivery(app: Flask, recorder: SignalRecorder, tmp_path: Path) -> None:
    path = tmp_path / "delivery.json"
    path.write_text(json.dumps(load_payload("startedChat+receivedMessage")), encoding="utf-8")

    result = run(app, "replay", str(path))

    assert result.exit_code == 0, result.output
    assert "Sent 1, accepted 1, refused 0." in result.output
    assert [e.name for e in recorder.events("huggy.event_received")] == ["startedChat", "receivedMessage"]


def test_replay_posts_a_json_list_in_order(app: Flask, recorder: SignalRecorder, tmp_path: Path) -> None:
    path = tmp_path / "deliveries.json"
    path.write_text(json.dumps([load_payload("closedChat"), load_payload("agentEntered")]), encoding="utf-8")

    result = run(app, "replay", str(path))

    assert "Sent 2, accepted 2, refused 0." in result.output
    assert [e.name for e in recorder.events("huggy.event_received")] == ["closedChat", "agentEntered"]


def test_replay_reads_json_lines_as_a_journal_writes_them(app: Flask, recorder: SignalRecorder, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "journal.jsonl",
        [
            load_payload("closedChat"),
            {"received_at": "2024-05-01T12:00:00Z", "body": load_payload("agentEntered")},
            {"raw": json.dumps(load_payload("leftQueue"))},
        ],
    )

    result = run(app, "replay", str(path))

    assert result.exit_code == 0, result.output
    assert "Sent 3, accepted 3, refused 0." in result.output
    assert [e.name for e in recorder.events("huggy.event_received")] == ["closedChat", "agentEntered", "leftQueue"]


def test_replay_reads_the_example_apps_log_lines(app: Flask, recorder: SignalRecorder, tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text(
        "2024-05-01 12:00:00,000 example_app INFO Paste this app's public URL\n"
        '2024-05-01 12:00:01,000 example_app INFO closedChat {"id": 5, "closed": 1}\n',
        encoding="utf-8",
    )

    result = run(app, "replay", str(path))

    assert "accepted 1" in result.output
    assert f"{path}:1: unreadable" in result.output
    assert recorder.events("closedChat")[0].raw == {"id": 5, "closed": 1}
    assert result.exit_code == 1  # the first line is no delivery


def test_replay_reads_a_log_line_that_ends_with_a_whole_delivery(
    app: Flask, recorder: SignalRecorder, tmp_path: Path
) -> None:
    delivery = {
        key: value
        for key, value in load_payload("startedAutomationFlow+finishedAutomationFlow").items()
        if key != "token"
    }
    path = tmp_path / "worker.log"
    path.write_text(
        "[2024-06-03 12:00:01,234: ERROR/ForkPoolWorker-3] Dead-lettered a Huggy delivery after 6 attempt(s): "
        "To replay it, pass the JSON that ends this line to flask huggy replay: "
        + json.dumps(delivery, separators=(",", ":"))
        + "\n",
        encoding="utf-8",
    )

    result = run(app, "replay", str(path))

    assert result.exit_code == 0, result.output
    assert [e.name for e in recorder.events("huggy.event_received")] == [
        "startedAutomationFlow",
        "finishedAutomationFlow",
    ]
    assert recorder.events("finishedAutomationFlow")[0].raw == delivery["messages"]["finishedAutomationFlow"][0]


def test_replay_reads_stdin(app: Flask, recorder: SignalRecorder) -> None:
    result = run(app, "replay", "-", input=json.dumps(load_payload("closedChat")) + "\n")

    assert result.exit_code == 0, result.output
    assert len(recorder.events("closedChat")) == 1


def test_replay_counts_refusals_and_fails(app: Flask, recorder: SignalRecorder, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "journal.jsonl",
        [
            load_payload("closedChat"),
            load_payload("closedChat", token="recorded-with-another-token"),
            {"time": 1, "messages": {"closedChat": "not a list"}},
        ],
    )

    result = run(app, "replay", str(path))

    assert result.exit_code == 1
    assert "Sent 3, accepted 1, refused 2." in result.output
    assert f"{path}:2: refused, HTTP 403 invalid_token" in result.output
    assert "try --token" in result.output
    assert f"{path}:3: refused, HTTP 400 invalid_envelope" in result.output


def test_replay_token_replaces_the_recorded_one(app: Flask, recorder: SignalRecorder, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "journal.jsonl", [load_payload("closedChat", token="****d354")])

    result = run(app, "replay", str(path), "--token", TOKEN)

    assert result.exit_code == 0, result.output
    assert recorder.deliveries()[0].token == TOKEN


def test_replay_never_replays_a_handshake(
    app: Flask, recorder: SignalRecorder, tmp_path: Path, no_request_leaves: responses.RequestsMock
) -> None:
    path = write_lines(tmp_path / "journal.jsonl", [load_payload("handshake", token=TOKEN), load_payload("closedChat")])

    result = run(app, "replay", str(path))

    assert result.exit_code == 0, result.output
    assert "Sent 1, accepted 1, refused 0, skipped 1 handshake(s)." in result.output
    assert "huggy.token_validated" not in recorder.names()
    assert len(no_request_leaves.calls) == 0


def test_replay_dry_run_checks_everything_and_sends_nothing(
    app: Flask, recorder: SignalRecorder, tmp_path: Path
) -> None:
    path = write_lines(
        tmp_path / "journal.jsonl",
        [
            load_payload("startedChat+receivedMessage"),
            {"time": "yesterday", "messages": {"closedChat": [{}]}},
        ],
    )

    result = run(app, "replay", str(path), "--dry-run")

    assert result.exit_code == 1
    assert f"{path}:1: 2 event(s)" in result.output
    assert f"{path}:2: would be refused, invalid_envelope" in result.output
    assert "Dry run: would send 2, would be refused 1." in result.output
    assert recorder.calls == []


def test_replay_dry_run_knows_strict_apps_refuse_invalid_events(make_app, tmp_path: Path) -> None:
    app = make_app(HUGGY_STRICT=True)
    path = write_lines(tmp_path / "journal.jsonl", [build_delivery(("closedChat", {"id": [1, 2]}), token=TOKEN)])

    result = run(app, "replay", str(path), "--dry-run")

    assert "invalid: closedChat (refused: HUGGY_STRICT is on)" in result.output
    assert result.exit_code == 1


def test_a_long_replay_reports_its_progress(app: Flask, recorder: SignalRecorder, tmp_path: Path) -> None:
    total = 2 * PROGRESS_EVERY + 1
    path = write_lines(tmp_path / "journal.jsonl", [build_delivery("closedChat", token=TOKEN)] * total)

    result = run(app, "replay", str(path))

    assert result.exit_code == 0, result.output
    assert f"... {PROGRESS_EVERY}/{total}" in result.stderr
    assert f"... {2 * PROGRESS_EVERY}/{total}" in result.stderr
    assert f"... {total}/{total}" in result.stderr
    assert len(recorder.events("closedChat")) == total


def test_a_short_replay_prints_no_progress(app: Flask, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "journal.jsonl", [load_payload("closedChat")] * 3)

    result = run(app, "replay", str(path))

    assert "..." not in result.stderr


def test_replay_stops_when_the_url_cannot_be_reached(app: Flask, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "journal.jsonl", [load_payload("closedChat")] * 3)

    result = run(app, "replay", str(path), "--url", "http://127.0.0.1:9/huggy/webhook", "--timeout", "2")

    assert result.exit_code == 1
    assert "Stopped: the receiver cannot be reached." in result.output
    assert "Sent 1, accepted 0, refused 1." in result.output


def test_replay_posts_to_a_url_over_http(app: Flask, live_app: tuple[Flask, str], tmp_path: Path) -> None:
    server_app, url = live_app
    received = []

    @signals.event_received.connect_via(server_app)
    def on_event(sender: Flask, event: Any, **extra: Any) -> None:
        received.append(event.name)

    path = write_lines(tmp_path / "journal.jsonl", [load_payload("closedChat"), load_payload("agentEntered")])

    result = run(app, "replay", str(path), "--url", url)

    assert result.exit_code == 0, result.output
    assert received == ["closedChat", "agentEntered"]


# --- handshake --------------------------------------------------------------------------------


def test_handshake_prints_the_token_then_confirms_without_reaching_huggy(
    app: Flask, no_request_leaves: responses.RequestsMock
) -> None:
    validated = []

    @signals.token_validated.connect_via(app)
    def on_validated(sender: Flask, token: str, confirmed: bool | None, **extra: Any) -> None:
        validated.append((token, confirmed))

    result = run(app, "handshake")

    assert result.exit_code == 0, result.output
    assert "2. The app answered HTTP 200 text/plain; charset=utf-8, the token itself (****" in result.output
    assert "3. After answering, the app sent its confirmation request to https://api.huggy.app/v3/webhook/validate" in (
        result.output
    )
    assert "token_validated fired 1 time(s) with confirmed=True; 1 receiver(s)" in result.output
    assert validated == [(TOKEN, True)]
    assert len(no_request_leaves.calls) == 0


def test_handshake_never_prints_the_whole_token(app: Flask) -> None:
    result = run(app, "handshake")

    assert TOKEN not in result.output
    assert "****" + TOKEN[-4:] in result.output


def test_handshake_shows_that_huggy_refusing_the_confirmation_changes_nothing(app: Flask) -> None:
    result = run(app, "handshake", "--huggy-status", "404")

    assert result.exit_code == 0, result.output
    assert "the token itself" in result.output
    assert "answered HTTP 404" in result.output
    assert "token_validated fired 1 time(s) with confirmed=False" in result.output


def test_handshake_with_the_confirmation_switched_off(make_app) -> None:
    app = make_app(HUGGY_CONFIRM_URL=None)

    result = run(app, "handshake")

    assert result.exit_code == 0, result.output
    assert "3. The confirmation request is switched off (HUGGY_CONFIRM_URL is unset)." in result.output
    assert "with confirmed=None" in result.output


def test_handshake_with_another_token_is_refused_before_any_confirmation(app: Flask) -> None:
    result = run(app, "handshake", "--token", "f" * 32)

    assert result.exit_code == 1
    assert "HTTP 403 invalid_token" in result.output
    assert "confirmation request" not in result.output
    assert "token_validated fired 0 time(s)" in result.output


def test_handshake_warns_when_no_token_is_configured(make_app) -> None:
    app = make_app(HUGGY_WEBHOOK_TOKEN=None)

    result = run(app, "handshake")

    assert result.exit_code == 0, result.output
    assert "HUGGY_WEBHOOK_TOKEN is not set" in result.output
    assert "refuses deliveries until it is set" in result.output


def test_handshake_to_a_url_checks_the_answer_of_a_running_server(
    app: Flask, live_app: tuple[Flask, str], no_request_leaves: responses.RequestsMock
) -> None:
    from flask_huggy.config import DEFAULT_CONFIRM_URL

    no_request_leaves.post(DEFAULT_CONFIRM_URL, status=404)  # Huggy, who knows nothing of this token

    result = run(app, "handshake", "--url", live_app[1])

    assert result.exit_code == 0, result.output
    assert "for real" in result.output
    assert "the token itself" in result.output
    assert TOKEN not in result.output


def test_handshake_to_a_url_that_does_not_print_the_token_fails(app: Flask, live_app: tuple[Flask, str]) -> None:
    result = run(app, "handshake", "--url", live_app[1], "--token", "f" * 32)

    assert result.exit_code == 1
    assert "HTTP 403 invalid_token" in result.output


# --- check ------------------------------------------------------------------------------------


def test_check_lists_every_setting_with_its_value_and_source(make_app) -> None:
    app = make_app(HUGGY_STRICT="yes", HUGGY_CONFIRM_TIMEOUT="2.5")

    result = run(app, "check")

    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines() if line.startswith("HUGGY_")}
    assert set(rows) == {f"HUGGY_{key}" for key in DEFAULTS}
    assert rows["HUGGY_STRICT"] == ["HUGGY_STRICT", "'yes'", "(True)", "config"]
    assert rows["HUGGY_CONFIRM_TIMEOUT"] == ["HUGGY_CONFIRM_TIMEOUT", "'2.5'", "(2.5)", "config"]
    assert rows["HUGGY_TIMEZONE"] == ["HUGGY_TIMEZONE", "'America/Sao_Paulo'", "default"]
    assert rows["HUGGY_JSON_DECODER"] == ["HUGGY_JSON_DECODER", "'auto'", "('jiter')", "default"]  # jiter: test extra
    assert f"All {len(SETTINGS)} settings are usable." in result.output


def test_check_masks_tokens_and_header_values(make_app) -> None:
    app = make_app(HUGGY_CONFIRM_HEADERS={"Authorization": "Bearer app-token-9876543210"})

    result = run(app, "check")

    assert TOKEN not in result.output and "app-token-9876543210" not in result.output
    assert f"'****{TOKEN[-4:]}'" in result.output
    assert "{'Authorization': '****3210'}" in result.output


def test_check_reports_every_unusable_setting_and_fails(app: Flask) -> None:
    # The app refuses to start with these; set after startup, check still sees them all.
    app.config.update(
        HUGGY_TIMEZONE="Mars/Olympus_Mons", HUGGY_DEDUP="postgres://db.example/huggy", HUGGY_WEBHOOK_TOKEN=[TOKEN, 42]
    )

    result = run(app, "check")

    assert result.exit_code == 1
    unusable = [line for line in result.output.splitlines() if line.startswith("Unusable: ")]
    assert [line.split(" = ")[0] for line in unusable] == [
        "Unusable: HUGGY_WEBHOOK_TOKEN",
        "Unusable: HUGGY_TIMEZONE",
        "Unusable: HUGGY_DEDUP",
    ]
    assert "3 unusable setting(s)" in result.output
    assert TOKEN not in result.output


def test_check_points_at_a_misspelt_key_without_failing(make_app) -> None:
    app = make_app(HUGGY_STRIKT=True)

    result = run(app, "check")

    assert result.exit_code == 0
    assert (
        "HUGGY_STRIKT is in the config but is no setting of this webhook (did you mean HUGGY_STRICT?)" in result.output
    )


def test_check_leaves_a_second_endpoints_keys_to_its_own_group(make_app) -> None:
    app = make_app(HUGGY_B_WEBHOOK_TOKEN="b" * 32, HUGGY_B_STRICT="no")
    app.register_blueprint(flask_huggy.make_blueprint("huggy_b", url_prefix="/huggy-b", config_prefix="HUGGY_B_"))

    default, second = run(app, "check"), app.test_cli_runner().invoke(args=["huggy_b", "check"])

    assert "HUGGY_B_" not in default.output
    assert ["HUGGY_B_STRICT", "'no'", "(False)", "config"] in [line.split() for line in second.output.splitlines()]
    assert second.exit_code == 0


def huggy_like_server(handshake_body: Any, delivery_status: int = 200) -> tuple[Flask, list[Any]]:
    """A stand-in webhook: answers a handshake with ``handshake_body(token)``, a delivery with ``delivery_status``."""
    server = Flask("stand-in")
    received: list[Any] = []

    @server.post("/webhook")
    def webhook() -> Any:
        body = request.get_json(force=True)
        received.append(body)
        if "validToken" in body:
            return handshake_body(body["token"])
        return {"status": "accepted"}, delivery_status

    return server, received


def test_check_url_posts_a_handshake_then_a_delivery_and_both_answers_are_good(app: Flask) -> None:
    server, received = huggy_like_server(lambda token: Response(token, mimetype="text/plain"))

    with serving(server) as base:
        result = run(app, "check", "--url", f"{base}/webhook", "--event", "receivedMessage")

    assert result.exit_code == 0, result.output
    assert received[0] == {"token": TOKEN, "validToken": True}
    assert list(received[1]["messages"]) == ["receivedMessage"] and received[1]["token"] == TOKEN
    assert (
        f"1. Handshake: The app answered HTTP 200 text/plain; charset=utf-8, the token itself (****{TOKEN[-4:]})"
        in result.output
    )
    assert '2. A receivedMessage delivery: the app answered HTTP 200 {"status": "accepted"}' in result.output
    assert TOKEN not in result.output


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (lambda token: {"status": "confirmed", "token": token}, "HTTP 200 but not with the token itself"),  # JSON
        (lambda token: Response(token + "\n", mimetype="text/plain"), "HTTP 200 but not with the token itself"),
        (lambda token: Response(token, status=201, mimetype="text/plain"), "HTTP 201 but not with the token itself"),
        (lambda token: ({"error": "invalid_token", "message": "No."}, 403), "HTTP 403 invalid_token: No."),
    ],
    ids=["json", "newline", "201", "403"],
)
def test_check_url_fails_unless_the_handshake_gets_exactly_the_token_with_200(
    app: Flask, answer: Any, said: str
) -> None:
    server, _ = huggy_like_server(answer)

    with serving(server) as base:
        result = run(app, "check", "--url", f"{base}/webhook")

    assert result.exit_code == 1
    assert f"1. Handshake: The app answered {said}" in result.output
    assert "2. A closedChat delivery: the app answered HTTP 200" in result.output
    assert TOKEN not in result.output


def test_check_url_fails_when_the_delivery_is_refused(app: Flask) -> None:
    server, _ = huggy_like_server(lambda token: Response(token, mimetype="text/plain"), delivery_status=503)

    with serving(server) as base:
        result = run(app, "check", "--url", f"{base}/webhook")

    assert result.exit_code == 1
    assert "2. A closedChat delivery: the app answered HTTP 503" in result.output
    assert "Huggy needs a 2xx, or it retries" in result.output


def test_check_url_fails_clearly_when_nothing_answers(app: Flask) -> None:
    result = run(app, "check", "--url", "http://127.0.0.1:9/huggy/webhook", "--timeout", "2")

    assert result.exit_code == 1
    assert "1. Handshake: The app answered http://127.0.0.1:9/huggy/webhook cannot be reached" in result.output


def test_check_url_passes_against_this_librarys_webhook(app: Flask, make_app) -> None:
    server_app = make_app(HUGGY_CONFIRM_URL=None)
    closed = []
    flask_huggy.signals.closed_chat.connect(
        lambda sender, **kwargs: closed.append(kwargs), sender=server_app, weak=False
    )

    with serving(server_app) as base:
        result = run(app, "check", "--url", f"{base}/huggy/webhook")

    assert result.exit_code == 0, result.output
    assert "the token itself" in result.output
    assert len(closed) == 1
