"""A request body over the configured size is refused with a 413.

A body that announces its size (Content-Length) is refused before a byte of it is read
(`announced_too_large`); one sent in chunks is refused as soon as the bytes received pass the
limit (`counting`). Either way the handler never parses it, so a huge body costs the event
loop nothing beyond receiving it. The refusal is an ordinary response on a connection that
stays open: uvicorn discards the rest of a body whose response is complete.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from switchboard.errors import PayloadTooLarge

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than this server's limit of {limit} bytes")


def announced_too_large(scope: MutableMapping[str, Any], limit: int) -> bool:
    """Whether the request's Content-Length already says its body is over `limit`."""
    return _declared_length(scope) > limit


def counting(receive: Receive, limit: int) -> Receive:
    """`receive`, raising `too_large` once the body received passes `limit`: raised inside the
    handler's `await request.body()`, the app's error handling answers it like any other
    Twilio error."""
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large(limit)
        return message

    return counted


def _declared_length(scope: MutableMapping[str, Any]) -> int:
    """The Content-Length header's value; 0 when absent or not a number (the server's HTTP
    parser has already refused a malformed one, and a chunked body is counted as it comes)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else 0
    return 0
