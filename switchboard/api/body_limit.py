"""ASGI middleware: a request body over the configured size is refused with a 413.

A body that announces its size (Content-Length) is refused before a byte of it is read; one
sent in chunks is refused as soon as the bytes received pass the limit. Either way the handler
never parses it, so a huge body costs the event loop nothing beyond receiving it. The refusal
is an ordinary response on a connection that stays open: uvicorn discards the rest of a body
whose response is complete.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard.api import render
from switchboard.errors import PayloadTooLarge


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than this server's limit of {limit} bytes")


class LimitBody:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.max_bytes:
            error = too_large(self.max_bytes)
            await render.json_response(error.to_dict(), error.status)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the handler's `await request.body()`: the app's error
                    # handling answers it like any other Twilio error.
                    raise too_large(self.max_bytes)
            return message

        await self.app(scope, counted, send)


def _declared_length(scope: Scope) -> int:
    """The Content-Length header's value; 0 when absent or not a number (the server's HTTP
    parser has already refused a malformed one, and a chunked body is counted as it comes)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else 0
    return 0
