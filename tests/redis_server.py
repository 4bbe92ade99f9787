"""A real redis-server for the tests, on a free 127.0.0.1 port, stopped afterwards."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .processes import free_port, missing_system_tool, stop


def redis_server_binary() -> str:
    """Debian's redis-server; CI installs it, so there its absence is a failure."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing_system_tool("redis-server is not installed (apt-get install redis-server; .ci/run does it)")
    return binary


@contextmanager
def running_redis() -> Iterator[str]:
    """Start redis-server without persistence; yield its ``redis://`` URL; stop it."""
    binary = redis_server_binary()
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="huggy-redis-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process, timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)
