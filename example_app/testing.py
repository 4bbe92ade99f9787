"""Running the inbox under a real HTTP server, for tests that need one.

A browser needs a URL, and so does ``flask huggy-demo --url``: Flask's test
client is not enough for those. :func:`serve` starts Werkzeug's threaded WSGI server on a
free port of 127.0.0.1, in a thread of the test process, and stops it after.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from werkzeug.serving import make_server


@contextmanager
def serve(app: Flask, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` on a free port of ``host`` while the block runs; give its base URL.

    The OS picks the port (port 0), so parallel runs never collide.
    """
    server = make_server(host, 0, app, threaded=True)
    # Polled every 0.05 s for shutdown, not socketserver's 0.5 s: stopping is one poll's wait.
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name=f"inbox-server-{server.server_port}", daemon=True
    )
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


__all__ = ["serve"]
