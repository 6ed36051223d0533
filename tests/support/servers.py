"""Switchboard on a real loopback socket: a uvicorn server in a thread of the test process."""

from __future__ import annotations

import socket
import threading
from typing import Any

import uvicorn

from switchboard.realtime.uvicorn_protocol import options as websocket_options
from tests.support.waiting import eventually


def free_port() -> int:
    """A loopback port nothing listens on now (the OS picks it, so runs in parallel differ)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RunningServer:
    """A real uvicorn server on a loopback port, in a background thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", **websocket_options()
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RunningServer:
        self.thread.start()
        eventually(lambda: self.server.started, what="uvicorn to start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
