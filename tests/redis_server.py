"""A real redis-server for the tests, on a free 127.0.0.1 port, stopped afterwards."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from .processes import free_port, missing_system_tool, stop


def redis_server_binary() -> str:
    """Debian's redis-server; CI installs it, so there its absence is a failure."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing_system_tool("redis-server is not installed (apt-get install redis-server; .ci/run does it)")
    return binary


class RedisServer:
    """A redis-server the soak tests can crash (``kill -9``) and start again, on the same port and data.

    ``durable=True`` keeps an append-only file synced on every write, as a Redis
    used as a broker or a de-duplication store is deployed: what it answered
    "OK" to survives the crash, so what a test loses is the library's doing.
    """

    def __init__(self, *, durable: bool = False) -> None:
        self.binary = redis_server_binary()
        self.port = free_port()
        self.durable = durable
        self.workdir = tempfile.mkdtemp(prefix="huggy-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else ["--appendonly", "no"]
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence,
             "--dir", self.workdir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not self._answers_ping():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        """Crash it: SIGKILL, no shutdown; connections drop and new ones are refused until :meth:`start`."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process = None

    @contextmanager
    def hung(self) -> Iterator[None]:
        """Freeze it (SIGSTOP) for the block, then let it go on (SIGCONT).

        A hung broker, as a Redis swapping or stuck on a slow disk is: the kernel
        still accepts connections and takes what clients send, Redis answers nothing.
        """
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.process.send_signal(signal.SIGCONT)

    def connections_received(self) -> int:
        """How many connections Redis has accepted since it started (``INFO``), this one included.

        The connection that asks is the newest: Redis accepts in arrival order, so
        every connection made before it, even while Redis was frozen, is counted.
        """
        client = redis.Redis(port=self.port, socket_timeout=10)
        try:
            return int(client.info("stats")["total_connections_received"])
        finally:
            client.close()

    def crash(self, seconds: float) -> None:
        """Kill it, and start it again ``seconds`` later: a Redis that crashed and was restarted."""
        self.kill()
        time.sleep(seconds)
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, timeout=5)
            self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@contextmanager
def redis_server(*, durable: bool = False) -> Iterator[RedisServer]:
    """A started :class:`RedisServer`, stopped and its data removed on exit."""
    server = RedisServer(durable=durable)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextmanager
def running_redis() -> Iterator[str]:
    """Start redis-server without persistence; yield its ``redis://`` URL; stop it."""
    with redis_server() as server:
        yield server.url
