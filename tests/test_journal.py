"""The delivery journal: nothing lost, even after Huggy gives up."""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask

import flask_huggy
from flask_huggy import signals
from flask_huggy.cli import cli
from flask_huggy.journal import Journal, failed_deliveries
from flask_huggy.testing import build_delivery

from .conftest import TOKEN, create_app

MASKED = "****" + TOKEN[-4:]


class Handled:
    """A receiver that records the events it ran and fails on the names it is told to."""

    def __init__(self, app: Flask) -> None:
        self.names: list[str] = []
        self.fail_on: set[str] = set()
        signals.event_received.connect(self.on_event, sender=app)

    def on_event(self, sender: Flask, event: Any, **extra: Any) -> None:
        if event.name in self.fail_on:
            raise RuntimeError(f"The CRM refused {event.name}")
        self.names.append(event.name)


def three_events() -> dict[str, Any]:
    """A delivery of three events; receivers see them in this order."""
    return build_delivery("startedChat", "receivedMessage", "closedChat", token=TOKEN)


def journal_app(tmp_path: Path, **config: Any) -> Flask:
    """An app journaling to tmp_path/journal; receivers that raise give a 500, as in production."""
    return create_app(HUGGY_JOURNAL=str(tmp_path / "journal"), TESTING=False, **config)


def records(directory: Path) -> list[dict[str, Any]]:
    """Every record of every journal file in the directory, file by file."""
    files = sorted(directory.glob("*.jsonl"), key=lambda p: (p.stat().st_mtime, p.name))
    return [json.loads(line) for path in files for line in path.read_text(encoding="utf-8").splitlines() if line]


def replay(app: Flask, *args: str) -> Result:
    """``flask huggy replay <args>`` against ``app``, as a user types it."""
    return app.test_cli_runner().invoke(cli, ["replay", *args])


def fail_once(app: Flask, handled: Handled, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Post a delivery while ``name``'s receiver fails, then let it succeed again (Huggy gave up)."""
    body = body or three_events()
    handled.fail_on.add(name)
    assert app.test_client().post("/huggy/webhook", json=body).status_code == 500
    handled.fail_on.clear()
    handled.names.clear()
    return body


# --- Writing ---------------------------------------------------------------------------------


def test_the_journal_is_off_by_default_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = create_app()

    assert app.test_client().post("/huggy/webhook", json=three_events()).status_code == 200

    assert list(tmp_path.iterdir()) == []
    assert "huggy_journal" not in app.extensions


def test_a_delivery_is_journaled_with_its_token_masked_and_its_outcome(tmp_path: Path) -> None:
    app = journal_app(tmp_path)
    Handled(app)
    body = three_events()

    response = app.test_client().post("/huggy/webhook", json=body)

    assert response.status_code == 200
    received, outcome = records(tmp_path / "journal")
    assert received["kind"] == "received"
    assert received["endpoint"] == "HUGGY_"
    assert received["events"] == ["startedChat", "receivedMessage", "closedChat"]
    assert received["delivery"] == {**body, "token": MASKED}
    assert outcome == {
        "id": received["id"],
        "kind": "outcome",
        "at": outcome["at"],
        "events": [
            {"index": 0, "name": "startedChat", "status": "ok", "error": None},
            {"index": 1, "name": "receivedMessage", "status": "ok", "error": None},
            {"index": 2, "name": "closedChat", "status": "ok", "error": None},
        ],
        "error": None,
    }
    assert TOKEN not in "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "journal").iterdir())


def test_the_delivery_is_on_disk_before_any_receiver_runs(tmp_path: Path) -> None:
    app = journal_app(tmp_path)
    on_disk: list[list[str]] = []
    signals.event_received.connect(
        lambda sender, **extra: on_disk.append([r["kind"] for r in records(tmp_path / "journal")]),
        sender=app,
        weak=False,
    )

    app.test_client().post("/huggy/webhook", json=build_delivery("closedChat", token=TOKEN))

    assert on_disk == [["received"]]


def test_a_failing_receiver_is_journaled_with_the_events_it_never_reached(tmp_path: Path) -> None:
    app = journal_app(tmp_path)
    handled = Handled(app)
    handled.fail_on.add("receivedMessage")

    response = app.test_client().post("/huggy/webhook", json=three_events())

    assert response.status_code == 500
    received, outcome = records(tmp_path / "journal")
    assert outcome["id"] == received["id"]
    assert outcome["events"] == [
        {"index": 0, "name": "startedChat", "status": "ok", "error": None},
        {
            "index": 1,
            "name": "receivedMessage",
            "status": "failed",
            "error": "RuntimeError: The CRM refused receivedMessage",
        },
    ]  # closedChat (#2) was never reached: no outcome
    assert outcome["error"] == "RuntimeError: The CRM refused receivedMessage"


def test_a_token_in_an_error_text_is_masked_too(tmp_path: Path) -> None:
    app = journal_app(tmp_path)

    def leaky(sender: Flask, delivery: Any, **extra: Any) -> None:
        raise RuntimeError(f"login failed with {delivery.token}")

    signals.closed_chat.connect(leaky, sender=app, weak=False)

    app.test_client().post("/huggy/webhook", json=build_delivery("closedChat", token=TOKEN))

    outcome = records(tmp_path / "journal")[-1]
    assert outcome["error"] == f"RuntimeError: login failed with {MASKED}"
    assert TOKEN not in json.dumps(outcome)


def test_an_unwritable_journal_answers_503_and_fires_nothing(tmp_path: Path, caplog) -> None:
    not_a_directory = tmp_path / "journal"
    not_a_directory.write_text("a file where the journal directory should be")
    app = create_app(HUGGY_JOURNAL=str(not_a_directory), TESTING=False)
    handled = Handled(app)

    response = app.test_client().post("/huggy/webhook", json=three_events())

    assert response.status_code == 503
    assert response.get_json()["error"] == "journal_unavailable"
    assert handled.names == []
    assert "The delivery journal cannot be written" in caplog.text


def test_an_outcome_that_cannot_be_written_is_logged_and_replay_runs_everything_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    app = journal_app(tmp_path)
    handled = Handled(app)

    def disk_full(*args: Any, **kwargs: Any) -> None:
        raise flask_huggy.Unavailable("disk full", error="journal_unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(Journal, "outcome", disk_full)
        response = app.test_client().post("/huggy/webhook", json=three_events())
    handled.names.clear()
    result = replay(app, "--failed", str(tmp_path / "journal"))

    assert response.status_code == 200  # the receivers ran: nothing to gain from a retry
    assert "is not in the journal: a replay with --failed will run all its events again" in caplog.text
    assert handled.names == ["startedChat", "receivedMessage", "closedChat"]
    assert result.exit_code == 0, result.output


def test_a_disk_full_mid_line_costs_only_that_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal(tmp_path)
    journal.write({"id": "a", "kind": "outcome", "events": [], "error": None})
    real_write = os.write

    def half_then_full(fd: int, data: Any) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(os, "write", half_then_full)
        with pytest.raises(flask_huggy.Unavailable):
            journal.write({"id": "b", "kind": "outcome", "events": [], "error": None})
    journal.write({"id": "c", "kind": "outcome", "events": [], "error": None})
    problems: list[tuple[str, str]] = []

    failed_deliveries(tmp_path, on_problem=lambda where, problem: problems.append((where, problem)))

    lines = journal.path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(lines[0])["id"], json.loads(lines[2])["id"]] == ["a", "c"]
    assert problems == [(f"{journal.path}:2", "not a JSON line")]


# --- Replaying what failed -----------------------------------------------------------------------


def test_replay_failed_reruns_exactly_the_failed_and_unreached_events(tmp_path: Path) -> None:
    app = journal_app(tmp_path)
    handled = Handled(app)
    fail_once(app, handled, "receivedMessage")

    result = replay(app, "--failed", str(tmp_path / "journal"))

    assert result.exit_code == 0, result.output
    assert handled.names == ["receivedMessage", "closedChat"]  # startedChat succeeded the first time
    assert "Replayed 1 delivery(ies): 2 event(s) re-run, 2 succeeded, 0 still failing." in result.output
    outcome = records(tmp_path / "journal")[-1]
    assert outcome["replay"] is True
    assert [(e["index"], e["status"]) for e in outcome["events"]] == [(1, "ok"), (2, "ok")]


def test_a_second_replay_reruns_nothing(tmp_path: Path) -> None:
    app = journal_app(tmp_path)
    handled = Handled(app)
    fail_once(app, handled, "receivedMessage")
    replay(app, "--failed", str(tmp_path / "journal"))
    handled.names.clear()

    result = replay(app, "--failed", str(tmp_path / "journal"))

    assert result.exit_code == 0, result.output
    assert "Nothing to replay: every journaled delivery was handled." in result.output
    assert handled.names == []


def test_an_event_that_still_fails_stays_failing_and_the_replay_exits_1(tmp_path: Path) -> None:
    app = journal_app(tmp_path)
    handled = Handled(app)
    handled.fail_on.add("receivedMessage")
    app.test_client().post("/huggy/webhook", json=three_events())

    result = replay(app, "--failed", str(tmp_path / "journal"))
    handled.fail_on.clear()
    handled.names.clear()
    fixed = replay(app, "--failed", str(tmp_path / "journal"))

    assert result.exit_code == 1
    assert (
        "still failing: #1 receivedMessage: RuntimeError: The CRM refused receivedMessage; "
        "#2 closedChat: not reached" in result.output
    )
    assert "Replayed 1 delivery(ies): 2 event(s) re-run, 0 succeeded, 2 still failing." in result.output
    assert fixed.exit_code == 0, fixed.output
    assert handled.names == ["receivedMessage", "closedChat"]


def test_a_delivery_huggy_retried_successfully_is_not_replayed(tmp_path: Path) -> None:
    app = journal_app(tmp_path)
    handled = Handled(app)
    body = fail_once(app, handled, "receivedMessage")
    assert app.test_client().post("/huggy/webhook", json=body).status_code == 200  # Huggy's retry
    handled.names.clear()

    result = replay(app, "--failed", str(tmp_path / "journal"))

    assert result.exit_code == 0, result.output
    assert "Nothing to replay" in result.output
    assert handled.names == []


def test_a_failed_delivery_received_receiver_is_replayed_without_the_events(tmp_path: Path) -> None:
    app = journal_app(tmp_path)
    handled = Handled(app)
    deliveries: list[Any] = []

    def archive(sender: Flask, delivery: Any, **extra: Any) -> None:
        if not deliveries:
            deliveries.append("refused")
            raise RuntimeError("archive down")
        deliveries.append(delivery)

    signals.delivery_received.connect(archive, sender=app, weak=False)
    app.test_client().post("/huggy/webhook", json=three_events())
    handled.names.clear()

    result = replay(app, "--failed", "--dry-run", str(tmp_path / "journal"))
    replayed = replay(app, "--failed", str(tmp_path / "journal"))

    assert "would re-run delivery_received only (every event was handled)" in result.output
    assert replayed.exit_code == 0, replayed.output
    assert handled.names == []
    assert [len(d.events) for d in deliveries[1:]] == [3]


def test_replay_dry_run_lists_what_would_run_and_runs_nothing(tmp_path: Path) -> None:
    app = journal_app(tmp_path)
    handled = Handled(app)
    fail_once(app, handled, "receivedMessage")

    result = replay(app, "--failed", "--dry-run", str(tmp_path / "journal"))

    assert result.exit_code == 0, result.output
    assert "would re-run #1 receivedMessage, #2 closedChat" in result.output
    assert "Dry run: would replay 1 delivery(ies), 2 event(s)." in result.output
    assert handled.names == []
    assert not any(r.get("replay") for r in records(tmp_path / "journal"))


def test_receivers_of_a_replay_get_the_configured_token_back(tmp_path: Path) -> None:
    app = journal_app(tmp_path)
    handled = Handled(app)
    tokens: list[str] = []
    signals.closed_chat.connect(lambda sender, delivery, **extra: tokens.append(delivery.token), sender=app, weak=False)
    fail_once(app, handled, "receivedMessage")
    tokens.clear()

    replay(app, "--failed", str(tmp_path / "journal"))

    assert tokens == [TOKEN]


def test_an_app_without_a_journal_replays_one_and_writes_the_outcomes_beside_it(tmp_path: Path) -> None:
    app = journal_app(tmp_path)
    handled = Handled(app)
    fail_once(app, handled, "receivedMessage")
    ops = create_app(TESTING=False)  # e.g. the journal copied to another machine
    ops_handled = Handled(ops)

    first = replay(ops, "--failed", str(tmp_path / "journal"))
    second = replay(ops, "--failed", str(tmp_path / "journal"))

    assert first.exit_code == 0, first.output
    assert ops_handled.names == ["receivedMessage", "closedChat"]
    assert "Nothing to replay" in second.output
    assert len(list((tmp_path / "journal").glob("*.jsonl"))) == 1  # the same process wrote both


def test_replaying_one_journal_file_sees_outcomes_written_elsewhere(tmp_path: Path) -> None:
    app = journal_app(tmp_path)
    handled = Handled(app)
    fail_once(app, handled, "receivedMessage")
    (journal_file,) = (tmp_path / "journal").glob("*.jsonl")
    copy = tmp_path / "saved.jsonl"
    copy.write_bytes(journal_file.read_bytes())
    replay(app, "--failed", str(copy))  # its outcomes go to the app's journal
    handled.names.clear()

    result = replay(app, "--failed", str(copy))

    assert "Nothing to replay" in result.output
    assert handled.names == []


def test_a_replay_leaves_other_endpoints_deliveries_to_their_own_command(tmp_path: Path) -> None:
    app = journal_app(tmp_path, HUGGY_B_JOURNAL=str(tmp_path / "journal"), HUGGY_B_WEBHOOK_TOKEN="b" * 32)
    app.register_blueprint(flask_huggy.make_blueprint("huggy_b", url_prefix="/huggy-b", config_prefix="HUGGY_B_"))
    handled = Handled(app)
    handled.fail_on.add("closedChat")
    app.test_client().post("/huggy-b/webhook", json=build_delivery("closedChat", token="b" * 32))
    handled.fail_on.clear()

    result = replay(app, "--failed", str(tmp_path / "journal"))
    own = app.test_cli_runner().invoke(cli, ["--endpoint", "huggy_b", "replay", "--failed", str(tmp_path / "journal")])

    assert "Skipped 1 delivery(ies) of other endpoints" in result.output
    assert own.exit_code == 0, own.output
    assert handled.names == ["closedChat"]


def test_replay_failed_runs_in_process_and_takes_no_url(tmp_path: Path) -> None:
    app = journal_app(tmp_path)

    result = replay(app, "--failed", "--url", "http://127.0.0.1:9/huggy/webhook", str(tmp_path))

    assert result.exit_code == 2
    assert "--failed runs the receivers in this process" in result.output


# --- Rotation and several workers -------------------------------------------------------------


def test_rotation_keeps_the_newest_backups_and_no_file_outgrows_the_limit(tmp_path: Path) -> None:
    app = journal_app(tmp_path, HUGGY_JOURNAL_MAX_BYTES=4000, HUGGY_JOURNAL_BACKUPS=2)
    for _ in range(40):
        app.test_client().post("/huggy/webhook", json=build_delivery("closedChat", token=TOKEN))

    files = sorted((tmp_path / "journal").glob("*.jsonl"))
    current = app.extensions["huggy"]["huggy"].journal.path

    assert len(files) == 3  # the current file and 2 backups
    assert current in files
    assert all(path.stat().st_size <= 4000 for path in files)
    assert all(path.name.startswith(current.stem + ".") for path in files if path != current)


def test_replay_reads_rotated_files(tmp_path: Path) -> None:
    app = journal_app(tmp_path, HUGGY_JOURNAL_MAX_BYTES=4000, HUGGY_JOURNAL_BACKUPS=10)
    handled = Handled(app)
    fail_once(app, handled, "receivedMessage")
    for _ in range(10):
        app.test_client().post("/huggy/webhook", json=build_delivery("agentEntered", token=TOKEN))
    handled.names.clear()
    current = app.extensions["huggy"]["huggy"].journal.path
    assert "receivedMessage" not in current.read_text(encoding="utf-8")  # it is in a rotated file now

    result = replay(app, "--failed", str(tmp_path / "journal"))

    assert result.exit_code == 0, result.output
    assert handled.names == ["receivedMessage", "closedChat"]


def test_each_process_writes_its_own_file_and_replay_merges_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = journal_app(tmp_path)
    handled = Handled(app)
    for pid, name in ((1001, "receivedMessage"), (1002, "closedChat")):
        monkeypatch.setattr(os, "getpid", lambda pid=pid: pid)
        fail_once(app, handled, name, build_delivery(name, "agentEntered", token=TOKEN))
    monkeypatch.undo()

    result = replay(app, "--failed", str(tmp_path / "journal"))

    names = sorted(p.name for p in (tmp_path / "journal").glob("*.jsonl"))
    assert [name.rsplit("-", 1)[1] for name in names[:2]] == ["1001.jsonl", "1002.jsonl"]
    assert len(names) == 3  # the replay's outcomes, in its own process's file
    assert result.exit_code == 0, result.output
    assert sorted(handled.names) == ["agentEntered", "agentEntered", "closedChat", "receivedMessage"]


def test_a_journal_deleted_while_the_app_runs_is_written_again_not_lost(tmp_path: Path) -> None:
    import shutil

    app = journal_app(tmp_path)
    client = app.test_client()
    assert client.post("/huggy/webhook", json=three_events()).status_code == 200

    shutil.rmtree(tmp_path / "journal")  # an operator's rm -rf while workers run
    second = three_events()
    assert client.post("/huggy/webhook", json=second).status_code == 200

    written = records(tmp_path / "journal")
    assert [r["kind"] for r in written] == ["received", "outcome"]
    assert written[0]["delivery"]["time"] == second["time"]


def test_a_forked_worker_writes_to_a_file_of_its_own(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.write({"id": "master", "kind": "outcome", "events": [], "error": None})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() in a threaded process, on 3.12+
        child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            journal.write({"id": "worker", "kind": "outcome", "events": [], "error": None})
        finally:
            os._exit(0)
    os.waitpid(child, 0)

    by_file = {
        path.name: [json.loads(line)["id"] for line in path.read_text().splitlines()]
        for path in tmp_path.glob("*.jsonl")
    }

    assert sorted(by_file.values()) == [["master"], ["worker"]]
    assert any(name.endswith(f"-{child}.jsonl") for name in by_file)


# --- Together with de-duplication ----------------------------------------------------------------


def test_with_dedup_duplicates_count_as_handled(tmp_path: Path) -> None:
    app = journal_app(tmp_path, HUGGY_DEDUP="memory")
    handled = Handled(app)
    body = fail_once(app, handled, "receivedMessage")
    handled.fail_on.add("closedChat")
    app.test_client().post("/huggy/webhook", json=body)  # Huggy's retry: #0 skipped, #1 runs, #2 fails
    handled.fail_on.clear()
    handled.names.clear()

    result = replay(app, "--failed", str(tmp_path / "journal"))

    assert [(e["index"], e["status"]) for e in records(tmp_path / "journal")[3]["events"]] == [
        (0, "duplicate"),
        (1, "ok"),
        (2, "failed"),
    ]
    assert result.exit_code == 0, result.output
    assert handled.names == ["closedChat"]


def test_with_dedup_a_replay_skips_what_was_handled_since(tmp_path: Path) -> None:
    app = journal_app(tmp_path, HUGGY_DEDUP="memory")
    handled = Handled(app)
    body = fail_once(app, handled, "receivedMessage")
    journal = app.extensions["huggy"]["huggy"].journal
    with pytest.MonkeyPatch.context() as patched:  # the retry is handled but its outcome is lost
        patched.setattr(Journal, "outcome", lambda *args, **kwargs: None)
        app.test_client().post("/huggy/webhook", json=body)
    handled.names.clear()

    result = replay(app, "--failed", str(tmp_path / "journal"))

    assert result.exit_code == 0, result.output
    assert handled.names == []  # the store knows #1 and #2 were handled
    assert [e["status"] for e in records(journal.directory)[-1]["events"]] == ["duplicate", "duplicate"]


# --- Reading without the CLI -----------------------------------------------------------------------


def test_failed_deliveries_reads_a_directory_and_reports_bad_lines(tmp_path: Path, caplog) -> None:
    app = journal_app(tmp_path)
    handled = Handled(app)
    fail_once(app, handled, "receivedMessage")
    (tmp_path / "journal" / "notes.jsonl").write_text("not json\n", encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="flask_huggy"):
        (pending,) = failed_deliveries(tmp_path / "journal")

    assert pending.event_names == ("startedChat", "receivedMessage", "closedChat")
    assert pending.indexes_to_rerun == (1, 2)
    assert pending.delivery_raw["token"] == MASKED
    assert "notes.jsonl:1 in the delivery journal: not a JSON line" in caplog.text


@pytest.mark.parametrize("number", [float("inf"), float("-inf"), float("nan")])
def test_a_float_that_is_not_json_is_refused_loudly_and_never_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, number: float
) -> None:
    journal = Journal(tmp_path)
    journal.write({"id": "a", "kind": "outcome", "events": [], "error": None})

    with pytest.raises(flask_huggy.Unavailable):
        journal.write({"id": "b", "kind": "received", "endpoint": "huggy", "events": [], "delivery": {"n": number}})

    assert [json.loads(line)["id"] for line in journal.path.read_text(encoding="utf-8").splitlines()] == ["a"]
    assert "cannot be written as JSON" in caplog.text
