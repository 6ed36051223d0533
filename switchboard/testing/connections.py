"""How a test reaches its Switchboard: in process (the ASGI app called directly on the kit's
loop, in the caller's thread) or over a real loopback port (a uvicorn server on a thread),
for code that insists on HTTP. Both serve the same `Instance`; each gives an SDK client wired
to it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable

import httpx
import uvicorn
from twilio.http import HttpClient
from twilio.rest import Client

from switchboard.testing.asgi import Reply, Request, exchange
from switchboard.testing.errors import TaskRouterTestError
from switchboard.testing.instance import Instance
from switchboard.testing.loop import WAIT_SECONDS, KitLoop
from switchboard.testing.sdk import AsyncInProcessHttpClient, InProcessHttpClient, Serve

TASKROUTER_HOST = "taskrouter.twilio.com"


def _sdk_client(sid: str, token: str, http_client: HttpClient | None) -> Client:
    # An empty environment: TWILIO_EDGE/TWILIO_REGION in the test's environment would make
    # the SDK rewrite the host.
    return Client(sid, token, http_client=http_client, environment={})


class InProcess:
    """The app called directly on the kit's loop: no socket, no thread."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.loop = KitLoop()

    def serve(self, request: Request) -> Reply:
        return self.loop.run(exchange(self.instance, request))

    def call(self, action: Callable[[], None]) -> None:
        """Run `action` on the loop that serves the app, between requests."""

        async def run() -> None:
            action()

        self.loop.run(run())

    def sdk_client(self, sid: str, token: str, serve: Serve) -> Client:
        """The SDK exactly as an application builds it: Twilio's own host, no base URL
        change; only its HTTP client is ours."""
        return _sdk_client(sid, token, InProcessHttpClient(serve))

    def async_sdk_client(self, sid: str, token: str, serve: Serve) -> Client:
        return _sdk_client(sid, token, AsyncInProcessHttpClient(serve))

    @property
    def base(self) -> tuple[str, str]:
        return "https", TASKROUTER_HOST

    def close(self) -> None:
        try:
            self.loop.run(self.instance.stop())
        finally:
            self.loop.close()


class OverSocket:
    """A uvicorn server on a free loopback port, on a thread of its own."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port: int = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(instance, lifespan="off", log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise TaskRouterTestError(f"the test server on {self.url} did not start")
            time.sleep(0.002)
        self.http = httpx.Client(base_url=self.url, timeout=60.0)

    def serve(self, request: Request) -> Reply:
        url = request.path + (f"?{request.query}" if request.query else "")
        response = self.http.request(
            request.method, url, headers=list(request.headers), content=request.body
        )
        return Reply(response.status_code, list(response.headers.items()), response.content)

    def call(self, action: Callable[[], None]) -> None:
        """Run `action` now: the test's own setup, made between its requests (the database
        serialises each statement with the server's thread)."""
        action()

    def sdk_client(self, sid: str, token: str, serve: Serve) -> Client:
        client = _sdk_client(sid, token, None)
        client.taskrouter.base_url = self.url
        return client

    def async_sdk_client(self, sid: str, token: str, serve: Serve) -> Client:
        """Async calls go through the kit's own HTTP client to the port (`serve`): the
        SDK's aiohttp client would leave a session for the test to close."""
        client = _sdk_client(sid, token, AsyncInProcessHttpClient(serve))
        client.taskrouter.base_url = self.url
        return client

    @property
    def base(self) -> tuple[str, str]:
        return "http", f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.http.close()
        loop = self.instance.senders_loop
        if loop is not None and loop.is_running():
            # The senders' HTTP clients belong to the server's loop: close them there.
            asyncio.run_coroutine_threadsafe(self.instance.stop(), loop).result(WAIT_SECONDS)
        self.server.should_exit = True
        self.thread.join(10)
