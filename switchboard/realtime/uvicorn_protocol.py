"""uvicorn's websocket protocol, holding less for each idle connection.

An agent's socket stays open all day and carries a frame now and then, so a server holds
thousands of idle ones, and what uvicorn keeps for each is most of what they cost. Its sans-I/O
protocol (`websockets` underneath) is kept as it is, with three things it need not hold:
- the handshake's request and response (their headers and the token in the URL), read only
  until the accept is sent: uvicorn keeps both, and `websockets`' parser keeps the request
  for as long as it parses frames, so once the handshake is answered the parser is replaced
  by the frames-only one it was about to run anyway;
- an `asyncio.Queue` for what the client sends (three deques, a kilobyte each when empty):
  a list and one future serve, as at most a message or two ever wait in it;
- an `asyncio.Event` for "writable" (a deque of waiters): a flag and a future, made only
  while a writer waits on a paused transport.
`options()` gives uvicorn these with the other websocket settings; the server uses them
(cli.py), and so do the tests' servers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.protocol import Protocol

try:  # uvicorn 0.35 and later
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # pragma: no cover - an older uvicorn: its own default protocol
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]

# The SDK sends nothing but the close; its frames to us are never large.
MAX_INCOMING_BYTES = 64 * 1024


class _Inbox:
    """What `asyncio.Queue` does for uvicorn here: put_nowait, get, empty."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items


class _Gate:
    """What `asyncio.Event` does for uvicorn here: set, clear, wait (open is the rule)."""

    __slots__ = ("_open", "_waiters")

    def __init__(self) -> None:
        self._open = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def set(self) -> None:
        self._open = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._open = False

    def is_set(self) -> bool:
        return self._open

    async def wait(self) -> bool:
        if self._open:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        await waiter
        return True


if WebSocketsSansIOProtocol is not None:

    class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
        # uvicorn declares the exact types; ours do what it asks of them.
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.queue = _Inbox()  # type: ignore[assignment]
            self.writable = _Gate()  # type: ignore[assignment]

        async def send(self, message: Any) -> None:
            await super().send(message)
            if message["type"] == "websocket.accept" and self.handshake_complete:
                # Read only to answer the handshake, which is answered now. The client
                # sends nothing before it reads the answer, so no frame is half parsed.
                self.request = self.response = None  # type: ignore[assignment]
                self.conn.parser = Protocol.parse(self.conn)
                next(self.conn.parser)


def options() -> dict[str, Any]:
    """uvicorn's websocket settings for Switchboard. No permessage-deflate: the SDK's frames
    are a few hundred bytes of JSON, and each socket's compressor and decompressor would
    cost it more memory than everything else."""
    chosen: dict[str, Any] = {
        "ws_per_message_deflate": False,
        "ws_max_size": MAX_INCOMING_BYTES,
    }
    if WebSocketsSansIOProtocol is not None:
        chosen["ws"] = LeanWebSocketProtocol
    return chosen
