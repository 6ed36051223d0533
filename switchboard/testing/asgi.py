"""One HTTP exchange with an ASGI application, called directly: no socket, no thread, and
none of an HTTP client's machinery (the request is already encoded, the reply is read whole).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Message, Receive, Send], Awaitable[None]]


class Request(NamedTuple):
    """One HTTP request, already encoded: what every way of serving a test's Switchboard
    takes (in process, over a port, through the mock)."""

    method: str
    scheme: str
    host: str
    path: str
    query: str = ""
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""


@dataclass
class Reply:
    status: int = 500
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


async def exchange(app: ASGIApp, request: Request) -> Reply:
    """Send one request to `app` and collect its whole reply."""
    method, scheme, host, path, query, headers, body = request
    raw_headers = [(b"host", host.encode("latin-1"))]
    raw_headers += [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in headers
        if k.lower() != "host"
    ]
    if body:
        raw_headers.append((b"content-length", str(len(body)).encode()))
    scope: Message = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": raw_headers,
        "server": (host.partition(":")[0], 443 if scheme == "https" else 80),
        "client": ("127.0.0.1", 0),
    }
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    reply = Reply()
    chunks: list[bytes] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]
            reply.headers = [
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])
            ]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    reply.body = b"".join(chunks)
    return reply
