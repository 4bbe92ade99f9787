"""``flask huggy ...``: the commands a developer runs instead of waiting for Huggy."""

from __future__ import annotations

import configparser
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from click.testing import Result
from flask import Flask

import flask_huggy
from flask_huggy import signals
from flask_huggy.catalog import EVENTS
from flask_huggy.cli import PROGRESS_EVERY, cli
from flask_huggy.testing import build_delivery, post_delivery

from .conftest import TOKEN, create_app, load_payload

URL = "https://staging.example.com/huggy/webhook"
FORGED = "closedChat\nCRITICAL forged line\x1b[2J"


def run(app: Flask, *args: str, color: bool = False, input: str | None = None) -> Result:
    """``flask huggy <args>`` against ``app``, as a user types it."""
    return app.test_cli_runner().invoke(cli, list(args), color=color, input=input)


def write_lines(path: Path, items: list[Any]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return path


@pytest.fixture
def mock_http() -> Iterator[responses.RequestsMock]:
    """Every request ``requests`` sends is answered here; an unregistered URL raises ConnectionError."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def forward_to(app: Flask) -> Callable[[Any], tuple[int, dict[str, str], str]]:
    """A ``responses`` callback that hands the request to ``app``: a running server, without a socket."""

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        with app.test_client().post(request.path_url, data=request.body, content_type="application/json") as got:
            return got.status_code, {"Content-Type": got.content_type}, got.get_data(as_text=True)

    return answer


def with_second_endpoint(app: Flask) -> Flask:
    app.config["HUGGY_B_WEBHOOK_TOKEN"] = "b" * 32
    app.register_blueprint(flask_huggy.make_blueprint("huggy_b", url_prefix="/huggy-b", config_prefix="HUGGY_B_"))
    return app


# --- The group -----------------------------------------------------------------------------


def test_the_group_reaches_flask_through_the_flask_commands_entry_point() -> None:
    setup = configparser.ConfigParser()
    setup.read(Path(__file__).parent.parent / "setup.cfg")

    entry = setup["options.entry_points"]["flask.commands"].strip()

    assert entry == "huggy = flask_huggy.cli:cli"


@pytest.mark.parametrize("command", ["events", "simulate", "replay", "handshake", "check"])
def test_every_command_has_help(app: Flask, command: str) -> None:
    result = run(app, command, "--help")

    assert result.exit_code == 0, result.output
    assert f"huggy {command}" in result.output


def test_a_second_endpoint_is_chosen_by_name(app: Flask) -> None:
    with_second_endpoint(app)
    tokens = []
    signals.closed_chat.connect(lambda sender, delivery, **extra: tokens.append(delivery.token), sender=app, weak=False)

    result = run(app, "--endpoint", "huggy_b", "simulate", "closedChat")

    assert result.exit_code == 0, result.output
    assert "/huggy-b/webhook" in result.output
    assert tokens == ["b" * 32]


def test_an_endpoint_the_app_lacks_is_a_usage_error_naming_the_app_s(app: Flask) -> None:
    result = run(app, "--endpoint", "huggy_c", "events")

    assert result.exit_code == 2
    assert "no Huggy endpoint named 'huggy_c' (its endpoints: huggy)" in result.output


# --- events ---------------------------------------------------------------------------------


def test_events_lists_every_event_with_its_signal_deprecation_and_receivers_in_this_app(app: Flask) -> None:
    signals.closed_chat.connect(lambda sender, **extra: None, sender=app, weak=False)
    signals.closed_chat.connect(lambda sender, **extra: None, sender=create_app(), weak=False)

    rows = {line.split()[0]: line.split() for line in run(app, "events").output.splitlines() if line.strip()}

    assert set(EVENTS) <= set(rows)
    assert rows["closedChat"] == ["closedChat", "signals.closed_chat", "1"]
    assert rows["createdChat"][2] == "yes"
    assert "(huggy.event_received)" in rows


# --- simulate -------------------------------------------------------------------------------


def test_simulate_posts_the_event_to_the_apps_own_webhook(app: Flask, recorder: Any) -> None:
    result = run(app, "simulate", "closedChat")

    assert result.exit_code == 0, result.output
    assert "closedChat -> /huggy/webhook: HTTP 200" in result.output
    assert recorder.events("closedChat")[0].errors is None
    assert recorder.deliveries()[0].token == TOKEN


def test_simulate_chains_events_of_one_chat_and_sets_fields_of_the_first(app: Flask, recorder: Any) -> None:
    result = run(
        app, "simulate", "receivedMessage", "--set", "body=Oi", "--set", 'sender.name="42"', "--chain", "closedChat"
    )

    assert result.exit_code == 0, result.output
    message, closed = recorder.events("huggy.event_received")
    assert (message.raw["body"], message.raw["sender"]["name"]) == ("Oi", "42")
    assert message.data["chat"]["id"] == closed.data["id"]


def test_simulate_refuses_a_set_without_equals(app: Flask, recorder: Any) -> None:
    result = run(app, "simulate", "closedChat", "--set", "id")

    assert result.exit_code == 2
    assert "FIELD=VALUE" in result.output
    assert recorder.calls == []


def test_simulate_print_leaves_the_token_out_and_sends_nothing(app: Flask, recorder: Any) -> None:
    result = run(app, "simulate", "closedChat", "--set", "id=30608118", "--print")

    assert result.exit_code == 0
    delivery = json.loads(result.output)
    assert list(delivery) == ["time", "messages"]
    assert delivery["messages"]["closedChat"][0]["id"] == 30608118
    assert recorder.calls == []


def test_what_simulate_prints_replay_and_post_delivery_take_as_it_is(app: Flask, recorder: Any, tmp_path: Path) -> None:
    printed = tmp_path / "closed.json"
    printed.write_text(run(app, "simulate", "closedChat", "--print").output, encoding="utf-8")

    replayed = run(app, "replay", str(printed))
    posted = post_delivery(app.test_client(), json.loads(printed.read_text(encoding="utf-8")))

    assert replayed.exit_code == 0, replayed.output
    assert posted.status_code == 200
    assert [d.token for d in recorder.deliveries()] == [TOKEN, TOKEN]


def test_simulate_with_a_wrong_token_fails_with_the_apps_reason(app: Flask, recorder: Any) -> None:
    result = run(app, "simulate", "closedChat", "--token", "0" * 32)

    assert result.exit_code == 1
    assert "refused, HTTP 403 invalid_token" in result.output
    assert recorder.names() == ["huggy.delivery_refused"]


def test_simulate_reports_a_receiver_that_raised(app: Flask) -> None:
    def broken(sender: Flask, **extra: Any) -> None:
        raise RuntimeError("database is down")

    signals.closed_chat.connect(broken, sender=app, weak=False)

    result = run(app, "simulate", "closedChat")

    assert result.exit_code == 1
    assert "RuntimeError: database is down" in result.output


def test_simulate_posts_to_a_url(app: Flask, mock_http: responses.RequestsMock) -> None:
    mock_http.post(URL, json={"status": "accepted"})

    result = run(app, "simulate", "closedChat", "--set", "id=77", "--url", URL)

    assert result.exit_code == 0, result.output
    assert f"closedChat -> {URL}: HTTP 200" in result.output
    sent = json.loads(mock_http.calls[0].request.body)
    assert sent["messages"]["closedChat"][0]["id"] == 77 and sent["token"] == TOKEN


def test_simulate_fails_clearly_when_the_url_cannot_be_reached(app: Flask, mock_http: responses.RequestsMock) -> None:
    mock_http.post(URL, body=requests.ConnectionError("refused"))

    result = run(app, "simulate", "closedChat", "--url", URL)

    assert result.exit_code == 1
    assert f"{URL} cannot be reached (ConnectionError)" in result.output


def test_output_has_colour_only_when_asked_for_a_terminal(app: Flask) -> None:
    plain = run(app, "simulate", "closedChat", "--token", "0" * 32)
    coloured = run(app, "simulate", "closedChat", "--token", "0" * 32, color=True)

    assert "\x1b[" not in plain.output
    assert "\x1b[31m" in coloured.output


# --- replay ---------------------------------------------------------------------------------


def test_replay_posts_json_lines_in_order(app: Flask, recorder: Any, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "deliveries.jsonl", [load_payload("closedChat"), load_payload("agentEntered")])

    result = run(app, "replay", str(path))

    assert result.exit_code == 0, result.output
    assert "Sent 2, accepted 2, refused 0." in result.output
    assert [e.name for e in recorder.events("huggy.event_received")] == ["closedChat", "agentEntered"]


def test_replay_reads_stdin(app: Flask, recorder: Any) -> None:
    result = run(app, "replay", "-", input=json.dumps(load_payload("closedChat")) + "\n")

    assert result.exit_code == 0, result.output
    assert len(recorder.events("closedChat")) == 1


def test_replay_counts_refusals_and_unreadable_lines_and_fails(app: Flask, recorder: Any, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "deliveries.jsonl",
        [
            load_payload("closedChat"),
            load_payload("closedChat", token="recorded-with-another-token"),
            {"kind": "received", "id": "x", "delivery": {}},
        ],
    )
    with path.open("a", encoding="utf-8") as file:
        file.write('2024-05-01 example_app INFO closedChat {"id": 5}\n')

    result = run(app, "replay", str(path))

    assert result.exit_code == 1
    assert "Sent 2, accepted 1, refused 1, unreadable 2." in result.output
    assert f"{path}:2: refused, HTTP 403 invalid_token" in result.output and "try --token" in result.output
    assert f"{path}:3: unreadable, a journal record: replay the journal with --failed" in result.output
    assert f"{path}:4: unreadable, not JSON" in result.output  # log lines are no longer read


def test_replay_token_replaces_the_recorded_one(app: Flask, recorder: Any, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "deliveries.jsonl", [load_payload("closedChat", token="****d354")])

    result = run(app, "replay", str(path), "--token", TOKEN)

    assert result.exit_code == 0, result.output
    assert recorder.deliveries()[0].token == TOKEN


def test_replay_never_replays_a_handshake(app: Flask, recorder: Any, tmp_path: Path, mock_http: Any) -> None:
    path = write_lines(tmp_path / "d.jsonl", [load_payload("handshake", token=TOKEN), load_payload("closedChat")])

    result = run(app, "replay", str(path))

    assert "Sent 1, accepted 1, refused 0, skipped 1 handshake(s)." in result.output
    assert "huggy.token_validated" not in recorder.names()
    assert len(mock_http.calls) == 0


def test_replay_dry_run_checks_everything_and_sends_nothing(app: Flask, recorder: Any, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "d.jsonl",
        [load_payload("startedChat+receivedMessage"), {"time": "yesterday", "messages": {"closedChat": [{}]}}],
    )

    result = run(app, "replay", str(path), "--dry-run")

    assert result.exit_code == 1
    assert f"{path}:1: 2 event(s)" in result.output
    assert f"{path}:2: would be refused, invalid_envelope" in result.output
    assert "Dry run: would send 2, would be refused 1." in result.output
    assert recorder.calls == []


def test_replay_dry_run_knows_strict_apps_refuse_invalid_events(tmp_path: Path) -> None:
    app = create_app(HUGGY_STRICT=True)
    path = write_lines(tmp_path / "d.jsonl", [build_delivery(("closedChat", {"id": [1, 2]}), token=TOKEN)])

    result = run(app, "replay", str(path), "--dry-run")

    assert "invalid: closedChat (refused: HUGGY_STRICT is on)" in result.output
    assert result.exit_code == 1


def test_a_long_replay_reports_its_progress_and_a_short_one_does_not(app: Flask, tmp_path: Path) -> None:
    total = PROGRESS_EVERY + 1
    long = write_lines(tmp_path / "long.jsonl", [build_delivery("closedChat", token=TOKEN)] * total)
    short = write_lines(tmp_path / "short.jsonl", [build_delivery("closedChat", token=TOKEN)] * 3)

    assert f"... {PROGRESS_EVERY}/{total}\n... {total}/{total}" in run(app, "replay", str(long)).stderr
    assert "..." not in run(app, "replay", str(short)).stderr


def test_replay_posts_to_a_url_and_stops_when_it_cannot_be_reached(
    app: Flask, tmp_path: Path, mock_http: responses.RequestsMock
) -> None:
    mock_http.post(URL, json={"status": "accepted"})
    path = write_lines(tmp_path / "d.jsonl", [load_payload("closedChat")] * 3)

    sent = run(app, "replay", str(path), "--url", URL)
    stopped = run(app, "replay", str(path), "--url", "http://127.0.0.1:9/huggy/webhook")

    assert sent.exit_code == 0 and [c.request.url for c in mock_http.calls][:3] == [URL] * 3
    assert stopped.exit_code == 1
    assert "Stopped: the receiver cannot be reached." in stopped.output
    assert "Sent 1, accepted 0, refused 1." in stopped.output


# --- replay --failed ------------------------------------------------------------------------------


def journal_app(tmp_path: Path, fail: set[str]) -> Flask:
    """An app journaling to tmp_path/journal whose receivers raise for the event names in ``fail``."""
    app = create_app(HUGGY_JOURNAL=str(tmp_path / "journal"), TESTING=False)

    def receiver(sender: Flask, event: Any, **extra: Any) -> None:
        if event.name in fail:
            raise RuntimeError(f"cannot handle {event.name}")

    signals.event_received.connect(receiver, sender=app, weak=False)
    return app


def test_replay_failed_reruns_exactly_the_events_that_failed(tmp_path: Path) -> None:
    fail = {"closedChat"}
    app = journal_app(tmp_path, fail)
    assert post_delivery(app.test_client(), "startedChat", "closedChat").status_code == 500
    journal = str(tmp_path / "journal")

    listed = run(app, "replay", "--failed", "--dry-run", journal)
    fail.clear()
    replayed = run(app, "replay", "--failed", journal)
    again = run(app, "replay", "--failed", journal)

    assert "would re-run #1 closedChat" in listed.output
    assert "Dry run: would replay 1 delivery(ies), 1 event(s)." in listed.output
    assert replayed.exit_code == 0, replayed.output
    assert "Replayed 1 delivery(ies): 1 event(s) re-run, 1 succeeded, 0 still failing." in replayed.output
    assert "Nothing to replay" in again.output


def test_replay_failed_reports_what_still_fails(tmp_path: Path) -> None:
    app = journal_app(tmp_path, {"closedChat"})
    post_delivery(app.test_client(), "closedChat")

    result = run(app, "replay", "--failed", str(tmp_path / "journal"))

    assert result.exit_code == 1
    assert "still failing: #0 closedChat: RuntimeError: cannot handle closedChat" in result.output


def test_a_forged_event_name_reaches_no_output_of_replay_raw(tmp_path: Path) -> None:
    app = journal_app(tmp_path, {FORGED})
    post_delivery(app.test_client(), (FORGED, {"id": 1}))
    refused = write_lines(tmp_path / "d.jsonl", [{"time": 1, "messages": {FORGED: "not a list"}, "token": TOKEN}])

    listed = run(app, "replay", "--failed", "--dry-run", str(tmp_path / "journal"))
    replayed = run(app, "replay", "--failed", str(tmp_path / "journal"))
    checked = run(app, "replay", "--dry-run", str(refused))

    assert "would re-run #0 closedChat\\nCRITICAL forged line\\x1b[2J" in listed.output
    assert "#0 closedChat\\nCRITICAL forged line\\x1b[2J: RuntimeError: cannot handle closedChat\\n" in replayed.output
    assert "would be refused, invalid_envelope" in checked.output
    for result in (listed, replayed, checked):
        assert "\x1b" not in result.output
        assert "\nCRITICAL" not in result.output


# --- handshake --------------------------------------------------------------------------------


def test_handshake_confirms_without_reaching_huggy(app: Flask, mock_http: responses.RequestsMock) -> None:
    confirmed = []
    signals.token_validated.connect(lambda sender, **kw: confirmed.append(kw["confirmed"]), sender=app, weak=False)

    result = run(app, "handshake")

    assert result.exit_code == 0, result.output
    assert (
        f"2. The app answered HTTP 200 text/plain; charset=utf-8, the token itself (****{TOKEN[-4:]})" in result.output
    )
    assert "3. After answering, the app sent its confirmation request to https://api.huggy.app/v3/webhook/validate" in (
        result.output
    )
    assert "token_validated fired 1 time(s) with confirmed=True; 1 receiver(s)" in result.output
    assert confirmed == [True]
    assert TOKEN not in result.output
    assert len(mock_http.calls) == 0


def test_handshake_shows_that_huggy_refusing_the_confirmation_changes_nothing(app: Flask) -> None:
    result = run(app, "handshake", "--huggy-status", "404")

    assert result.exit_code == 0, result.output
    assert "answered HTTP 404" in result.output
    assert "token_validated fired 1 time(s) with confirmed=False" in result.output


def test_handshake_with_the_confirmation_switched_off() -> None:
    result = run(create_app(HUGGY_CONFIRM_URL=None), "handshake")

    assert result.exit_code == 0, result.output
    assert "3. The confirmation request is switched off (HUGGY_CONFIRM_URL is unset)." in result.output
    assert "with confirmed=None" in result.output


def test_handshake_with_another_token_is_refused_before_any_confirmation(app: Flask) -> None:
    result = run(app, "handshake", "--token", "f" * 32)

    assert result.exit_code == 1
    assert "HTTP 403 invalid_token" in result.output
    assert "token_validated fired 0 time(s)" in result.output


def test_handshake_warns_when_no_token_is_configured() -> None:
    result = run(create_app(HUGGY_WEBHOOK_TOKEN=None), "handshake")

    assert result.exit_code == 0, result.output
    assert "HUGGY_WEBHOOK_TOKEN is not set" in result.output


# --- check ------------------------------------------------------------------------------------


def test_check_passes_and_shows_the_settings_read_at_registration_masked(app: Flask) -> None:
    result = run(app, "check")

    assert result.exit_code == 0, result.output
    rows = {
        line.split()[0]: line.split(maxsplit=1)[1] for line in result.output.splitlines() if line.startswith("HUGGY_")
    }
    assert rows["HUGGY_WEBHOOK_TOKEN"] == f"['****{TOKEN[-4:]}']"
    assert rows["HUGGY_TIMEZONE"] == "'America/Sao_Paulo'"
    assert TOKEN not in result.output
    assert "Deliveries will be accepted." in result.output


def test_check_says_which_settings_app_config_changed_since_registration(app: Flask) -> None:
    app.config["HUGGY_STRICT"] = "yes"

    result = run(app, "check")

    changed = [line.split(maxsplit=1) for line in result.output.splitlines() if "app.config now" in line]
    assert changed == [["HUGGY_STRICT", "'yes' in app.config now: seen after a restart"]]
    assert result.exit_code == 0


def test_check_fails_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLASK_HUGGY_WEBHOOK_TOKEN", raising=False)
    monkeypatch.delenv("HUGGY_WEBHOOK_TOKEN", raising=False)

    result = run(create_app(HUGGY_WEBHOOK_TOKEN=None), "check")

    assert result.exit_code == 1
    assert "HUGGY_WEBHOOK_TOKEN is not set, so every delivery gets 403" in result.output


@pytest.mark.parametrize(
    ("variable", "said"),
    [
        (
            "FLASK_HUGGY_WEBHOOK_TOKEN",
            "FLASK_HUGGY_WEBHOOK_TOKEN is set in the environment but not in app.config: "
            "call app.config.from_prefixed_env() in your factory",
        ),
        ("HUGGY_WEBHOOK_TOKEN", "HUGGY_WEBHOOK_TOKEN is set in the environment but not in app.config"),
    ],
)
def test_check_says_when_the_token_is_in_the_environment_but_not_in_app_config(
    monkeypatch: pytest.MonkeyPatch, variable: str, said: str
) -> None:
    monkeypatch.delenv("FLASK_HUGGY_WEBHOOK_TOKEN", raising=False)
    monkeypatch.delenv("HUGGY_WEBHOOK_TOKEN", raising=False)
    monkeypatch.setenv(variable, TOKEN)

    result = run(create_app(HUGGY_WEBHOOK_TOKEN=None), "check")

    assert result.exit_code == 1
    assert said in result.output


def test_check_only_warns_without_a_token_when_unauthenticated_deliveries_are_allowed() -> None:
    result = run(create_app(HUGGY_WEBHOOK_TOKEN=None, HUGGY_ALLOW_UNAUTHENTICATED=True), "check")

    assert result.exit_code == 0, result.output
    assert "Warning: HUGGY_WEBHOOK_TOKEN is not set; ALLOW_UNAUTHENTICATED is on" in result.output


def test_check_fails_on_a_misspelt_or_removed_key_and_says_what_was_meant() -> None:
    result = run(create_app(HUGGY_STRIKT=True, HUGGY_MAX_DEPTH=10), "check")

    assert result.exit_code == 1
    assert "HUGGY_STRIKT is in app.config but is no setting (did you mean HUGGY_STRICT?)" in result.output
    assert "HUGGY_MAX_DEPTH is in app.config but is no setting" in result.output


def test_check_knows_the_keys_of_every_endpoint_of_the_app(app: Flask) -> None:
    with_second_endpoint(app)
    app.config["HUGGY_B_STRICT"] = "no"

    default, second = run(app, "check"), run(app, "--endpoint", "huggy_b", "check")

    assert default.exit_code == second.exit_code == 0, default.output + second.output
    assert "HUGGY_B_" not in default.output
    assert ["HUGGY_B_WEBHOOK_TOKEN", "['****bbbb']"] in [line.split() for line in second.output.splitlines()]


def test_check_reports_every_unusable_value_and_fails(app: Flask) -> None:
    # The app refuses to start with these; set after startup, check still sees them all.
    app.config.update(HUGGY_TIMEZONE="Mars/Olympus_Mons", HUGGY_DEDUP="postgres://db.example/huggy")

    result = run(app, "check")

    assert result.exit_code == 1
    assert "Unusable: 2 HUGGY_* settings are unusable" in result.output
    assert "HUGGY_TIMEZONE = 'Mars/Olympus_Mons'" in result.output and "HUGGY_DEDUP = " in result.output


def test_check_url_posts_a_handshake_then_a_delivery_to_a_running_server(
    app: Flask, mock_http: responses.RequestsMock
) -> None:
    server = create_app(HUGGY_CONFIRM_URL=None)
    closed = []
    signals.closed_chat.connect(lambda sender, **kw: closed.append(kw), sender=server, weak=False)
    mock_http.add_callback(responses.POST, URL, callback=forward_to(server))

    result = run(app, "check", "--url", URL)

    assert result.exit_code == 0, result.output
    assert "1. Handshake: The app answered HTTP 200 text/plain; charset=utf-8, the token itself" in result.output
    assert "2. A closedChat delivery: the app answered HTTP 200" in result.output
    assert len(closed) == 1
    assert TOKEN not in result.output


@pytest.mark.parametrize(
    ("handshake", "delivery", "said"),
    [
        ({"json": {"token": TOKEN}}, {"json": {}}, "1. Handshake: The app answered HTTP 200 but not with the token"),
        ({"body": TOKEN}, {"status": 503, "json": {}}, "2. A closedChat delivery: the app answered HTTP 503"),
    ],
    ids=["handshake-json", "delivery-503"],
)
def test_check_url_fails_on_a_wrong_answer(
    app: Flask, mock_http: responses.RequestsMock, handshake: dict[str, Any], delivery: dict[str, Any], said: str
) -> None:
    mock_http.post(URL, **handshake)
    mock_http.post(URL, **delivery)

    result = run(app, "check", "--url", URL)

    assert result.exit_code == 1
    assert said in result.output
    assert TOKEN not in result.output
