"""README's run command: `flask --app example_app run` serves the inbox and says what to paste into Huggy."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from .conftest import TOKEN
from .processes import stop

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_flask_run_prints_the_inbox_url_and_the_webhook_url_then_serves_the_pages(tmp_path) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("FLASK_", "HUGGY_", "INBOX_"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'inbox.sqlite3'}", HUGGY_WEBHOOK_TOKEN=TOKEN, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "example_app", "run", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    output: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while not any("Running on" in line for line in output) and time.monotonic() < deadline:
            try:
                output.append(lines.get(timeout=1))
            except queue.Empty:
                assert process.poll() is None, "".join(output)

        assert f" * Huggy inbox: http://127.0.0.1:{port}/\n" in output, "".join(output)
        assert f" * Webhook URL: http://127.0.0.1:{port}/huggy/webhook\n" in output
        assert " * Paste into Huggy (Configurações > Webhook): https://<your public host>/huggy/webhook\n" in output
        assert " * Token: ****62e4 (HUGGY_WEBHOOK_TOKEN)\n" in output
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
    finally:
        stop(process)


def test_other_commands_do_not_announce_the_inbox(tmp_path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("FLASK_", "HUGGY_", "INBOX_"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'inbox.sqlite3'}")
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "example_app", "huggy-demo", "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "flask huggy-demo [OPTIONS]" in result.stdout
    assert "Huggy inbox" not in result.stdout + result.stderr
