"""Request counts, latency and database time per operation: an ASGI middleware around the
whole app.

Requests are keyed by the name of the route that served them (Twilio's operation name, such
as `create_task`), never by the raw path: a path carries SIDs, and a label per SID would grow
without bound. A request no route matched counts as `unmatched`.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard.metrics.counters import ProcessCounters


class RequestMetrics:
    """Times every HTTP request, from its arrival to the end of its answer."""

    def __init__(self, app: ASGIApp, counters: ProcessCounters) -> None:
        self.app = app
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an answer that never started is an error
        database = self.counters.start_request()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            operation = getattr(route, "name", None) or "unmatched"
            self.counters.observe_request(
                operation, scope["method"], status, time.perf_counter() - started, database[0]
            )
