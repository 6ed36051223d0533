"""Callback targets: the application under test, reached in process through an httpx
transport, so the senders post to it exactly as they post over the network (same form, same
X-Twilio-Signature, same reading of the reply).

Each exchange runs the application on a worker thread, as a real server would: a WSGI app
(Flask, Django) directly, an ASGI app (FastAPI, Starlette) on an event loop of its own. The
kit's loop is then free to serve the requests the application makes back to TaskRouter while
it answers (updating the reservation it was offered, say).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import httpx

Interface = Literal["wsgi", "asgi"]


def interface_of(app: Any) -> Interface:
    """ASGI apps are coroutine functions (or objects whose __call__ is one); WSGI apps are
    plain callables."""
    call = app if inspect.isfunction(app) or inspect.ismethod(app) else type(app).__call__
    return "asgi" if inspect.iscoroutinefunction(call) else "wsgi"


@dataclass(frozen=True)
class Failure:
    """The application raised while handling a callback (`error`), or answered it with a
    server error (`status`, `body`)."""

    method: str
    url: str
    error: BaseException | None = None
    status: int = 500
    body: str = ""

    def describe(self) -> str:
        if self.error is not None:
            return f"the application raised {self.error!r} handling {self.method} {self.url}"
        hint = " (a Flask app shows the exception itself with app.testing = True)"
        return (
            f"the application answered {self.method} {self.url} with HTTP {self.status}:"
            f" {self.body[:300]!r}{hint}"
        )


@dataclass(frozen=True)
class Target:
    prefix: str
    app: Any
    interface: Interface
    raise_server_errors: bool = True

    def covers(self, url: str) -> bool:
        return url.startswith(self.prefix)

    def call(self, request: httpx.Request, body: bytes) -> httpx.Response:
        """One exchange, on the calling (worker) thread; the application's exception, if
        any, propagates."""
        outgoing = httpx.Request(request.method, request.url, headers=request.headers, content=body)
        if self.interface == "wsgi":
            reply = httpx.WSGITransport(app=self.app).handle_request(outgoing)
            content = reply.read()
        else:
            reply, content = asyncio.run(self._call_asgi(outgoing))
        return httpx.Response(reply.status_code, headers=reply.headers, content=content)

    async def _call_asgi(self, request: httpx.Request) -> tuple[httpx.Response, bytes]:
        reply = await httpx.ASGITransport(app=self.app).handle_async_request(request)
        return reply, await reply.aread()


class CallbackRouter(httpx.AsyncBaseTransport):
    """Sends each callback to the target whose base URL it starts with (the latest added
    first); a URL no target covers fails as an unreachable host would. A target's exception
    becomes a 500 for the sender, and is kept for the kit to raise in the test."""

    def __init__(self, executor: Callable[[], ThreadPoolExecutor]) -> None:
        self.targets: list[Target] = []
        self.failures: list[Failure] = []
        self._executor = executor

    def add(
        self, app: Any, base_url: str, interface: Interface | None, raise_server_errors: bool
    ) -> None:
        chosen = interface or interface_of(app)
        self.targets.insert(0, Target(base_url, app, chosen, raise_server_errors))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        target = next((t for t in self.targets if t.covers(url)), None)
        if target is None:
            raise httpx.ConnectError(f"no application given to deliver_callbacks_to takes {url}")
        body = await request.aread()
        loop = asyncio.get_running_loop()
        try:
            reply = await loop.run_in_executor(self._executor(), target.call, request, body)
        except asyncio.CancelledError:
            # The sender gave up waiting (its timeout): a handler that never returns.
            hung = TimeoutError("the application did not answer within the callback timeout")
            self.failures.append(Failure(request.method, url, hung))
            raise
        except Exception as error:
            self.failures.append(Failure(request.method, url, error))
            return httpx.Response(500, text=f"the application raised {error!r}")
        if reply.status_code >= 500 and target.raise_server_errors:
            text = reply.content.decode("utf-8", "replace")
            self.failures.append(Failure(request.method, url, None, reply.status_code, text))
        return reply
