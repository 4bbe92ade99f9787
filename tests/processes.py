"""What the tests that run real servers share: free ports, stopping, missing tools."""

from __future__ import annotations

import os
import socket
import subprocess
from typing import NoReturn

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Terminate ``process``, and kill it if it has not exited within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def missing_system_tool(message: str) -> NoReturn:
    """A real server or browser the test needs is not installed.

    ``.ci/run`` installs every one of them, so under CI this is a failure; on a
    developer's machine without them the test is skipped with the install hint.
    """
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
