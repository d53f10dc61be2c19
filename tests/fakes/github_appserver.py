"""One ASGI app served by uvicorn on a loopback address and a free port, in a daemon thread.

The fake GitHub's API (github_server.py) and its job-log host (github_logs.py) each run one.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class AppServer:
    """uvicorn serving one ASGI app on ``host`` with a free port, in a daemon thread."""

    def __init__(self, app: Any, host: str = "127.0.0.1", name: str = "fake-github") -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, 0))
        self.host = host
        self.port = self._socket.getsockname()[1]
        self.name = name
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._socket]},
                                        name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()
