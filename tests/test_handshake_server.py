"""A confirmation URL that hangs never holds the worker a delivery needs (issue 21, point 3), under gunicorn.

One sync worker serves the webhook, so a request that holds it holds every
delivery behind it. Its ``HUGGY_CONFIRM_URL`` points at a TCP server in this
test that reads the confirmation request and never answers. The test checks,
without any clock, that a delivery posted right after a handshake is answered
while that confirmation request is still waiting: the hanging server still holds
its connection open when the delivery's answer arrives. Had the worker sent the
confirmation itself after answering the handshake, it would have taken the
delivery only once the confirmation gave up and closed that connection.

gunicorn loads the app from this module: ``tests.test_handshake_server:create_app()``.
"""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import requests
from flask import Flask

import flask_huggy

from .conftest import TOKEN
from .processes import free_port
from .soak_support import ROOT, WEBHOOK_PATH, no_control_socket, stop_group, wait_until_serving

DELIVERY = (ROOT / "tests" / "payloads" / "receivedAllMessage-2.json").read_bytes()
#: Seconds any one step may take before the test gives up on it: a bound, never a measure.
PATIENCE = 30.0


def create_app() -> Flask:
    """The app gunicorn serves: the blueprint, configured from the ``HUGGY_*`` environment variables."""
    app = Flask(__name__)
    app.config.update({key: value for key, value in os.environ.items() if key.startswith("HUGGY_")})
    app.register_blueprint(flask_huggy.blueprint)
    return app


class HangingHuggy:
    """A TCP server on a free 127.0.0.1 port that reads each HTTP request it gets and never answers it."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        #: ``(connection, request bytes)`` of each request read, in the order they came.
        self.requests: queue.Queue[tuple[socket.socket, bytes]] = queue.Queue()
        self._held: list[socket.socket] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hanging-huggy", daemon=True)

    def __enter__(self) -> HangingHuggy:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping.set()
        self._thread.join(PATIENCE)
        for connection in self._held:
            connection.close()
        self._listener.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            self._held.append(connection)
            connection.settimeout(PATIENCE)
            try:
                request = _read_request(connection)
            except OSError:
                continue  # the client went away mid-request: nothing to hold
            # Non-blocking from now on, so that closed_by_peer() looks without waiting:
            # with a timeout set, even a MSG_DONTWAIT recv() first waits for data or EOF.
            connection.setblocking(False)
            self.requests.put((connection, request))

    def next_request(self) -> tuple[socket.socket, bytes]:
        """The next request read (its connection, held open, and its bytes)."""
        return self.requests.get(timeout=PATIENCE)


def _read_request(connection: socket.socket) -> bytes:
    """Read one HTTP request: its head, then ``Content-Length`` bytes of body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def closed_by_peer(connection: socket.socket) -> bool:
    """Whether the other end has closed ``connection`` (it gave up waiting), looking without reading or waiting."""
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:  # open, and nothing more was sent
        return False
    except ConnectionResetError:
        return True


@contextmanager
def gunicorn_sync(env: dict[str, str], log: Path) -> Iterator[str]:
    """gunicorn, one sync worker, serving :func:`create_app` on a free port; yield the webhook's URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "-k", "sync", "-w", "1", "--timeout", "30", "--graceful-timeout", "5",
        "-b", f"127.0.0.1:{port}", *no_control_socket(), "tests.test_handshake_server:create_app()",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    with log.open("ab") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_serving(url, process, log)
        yield url
    finally:
        stop_group(process)


def test_a_delivery_after_a_handshake_is_answered_while_the_confirmation_still_hangs(tmp_path: Path) -> None:
    log = tmp_path / "gunicorn.log"
    with HangingHuggy() as huggy:
        env = {
            **os.environ,
            "HUGGY_WEBHOOK_TOKEN": TOKEN,
            "HUGGY_CONFIRM_URL": f"http://127.0.0.1:{huggy.port}/v3/webhook/validate",
        }
        with gunicorn_sync(env, log) as url:
            handshake = requests.post(url, json={"token": TOKEN, "validToken": True}, timeout=PATIENCE)
            assert (handshake.status_code, handshake.text) == (200, TOKEN)
            confirmation, sent = huggy.next_request()
            assert sent.startswith(b"POST /v3/webhook/validate ") and TOKEN.encode() in sent

            delivery = requests.post(url, data=DELIVERY, headers={"Content-Type": "application/json"}, timeout=PATIENCE)

            assert not closed_by_peer(confirmation), (
                "the delivery was answered only after the confirmation request gave up waiting for Huggy:\n"
                + log.read_text(errors="replace")[-3000:]
            )
            assert delivery.status_code == 200, delivery.text
            assert delivery.json()["status"] == "accepted"
