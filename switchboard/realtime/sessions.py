"""The SDK's websocket (its `wsServer`): server to client only.

A session opens with `init`, then carries `{event_type, payload}` frames pushed by the fan-out
(fanout.py) and a whitespace heartbeat whenever it has been quiet for a while (the SDK
reconnects after 30 s of silence). Each session has a bounded queue: a client that cannot keep
up is disconnected (it reconnects and refetches the current state) rather than holding memory
or slowing anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Callable

from starlette.websockets import WebSocket, WebSocketDisconnect

from switchboard.fastjson import dumps
from switchboard.realtime.tokens import Grant, TokenRefused, Verifier

log = logging.getLogger("switchboard.realtime")

# Close codes: 1008 policy violation (a refused token or origin), 1013 try again later, and
# one of the application's range for a session replaced by a newer one (closeExistingSessions).
REFUSED, TOO_SLOW, REPLACED = 1008, 1013, 4000
# The client went: the session ends without a close frame of ours.
_GONE = 1001


class Session:
    """One connected socket of one worker.

    Idle, a session costs one future and one timer (its heartbeat): the frames wait in a
    deque, and the sender sleeps on a future that `offer` or `end` resolves. Thousands of
    sockets are mostly idle, so what each holds while idle is what they cost together."""

    def __init__(
        self,
        grant: Grant,
        queue_limit: int,
        *,
        close_existing: bool = False,
        offline_if_disconnected: bool = True,
    ) -> None:
        assert grant.worker_sid is not None
        self.id = secrets.token_hex(12)
        self.grant = grant
        self.worker_sid: str = grant.worker_sid
        self.workspace_sid = grant.workspace_sid
        self.close_existing = close_existing
        self.offline_if_disconnected = offline_if_disconnected
        self._frames: deque[str] = deque()
        self._limit = queue_limit
        self._waiter: asyncio.Future[None] | None = None
        # Set once the session is to end: the close code and reason its socket is closed with.
        self.ending: tuple[int, str] | None = None

    def offer(self, frame: str) -> None:
        """Queue a frame; a full queue ends the session (never blocks the pusher)."""
        if self.ending is not None:
            return
        if len(self._frames) >= self._limit:
            self.end(TOO_SLOW, "the client fell behind; reconnect")
            return
        self._frames.append(frame)
        self._wake()

    def end(self, code: int, reason: str) -> None:
        """End the session: its socket closes with `code` and `reason` once it is next served,
        whatever frames are still queued."""
        if self.ending is not None:
            return
        self.ending = (code, reason)
        self._frames.clear()
        self._wake()

    async def next_frame(self, heartbeat_s: float) -> str | None:
        """The next frame, a heartbeat after `heartbeat_s` of quiet, or None once ended."""
        if self.ending is None and not self._frames:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(heartbeat_s, _settle, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        if self.ending is not None:
            return None
        return self._frames.popleft() if self._frames else " "

    def _wake(self) -> None:
        if self._waiter is not None:
            _settle(self._waiter)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def frame(event_type: str, payload: object) -> str:
    return dumps({"event_type": event_type, "payload": payload})


class Sockets:
    """Accepts, serves and ends websocket sessions; `register`/`unregister` tie each to the
    fan-out that feeds it."""

    def __init__(
        self,
        verify: Verifier,
        *,
        register: Callable[[Session], None],
        unregister: Callable[[Session], None],
        origin_allowed: Callable[[str | None], bool],
        heartbeat_s: float,
        queue_limit: int = 1000,
    ) -> None:
        self.verify = verify
        self._register, self._unregister = register, unregister
        self._origin_allowed = origin_allowed
        self.heartbeat_s, self.queue_limit = heartbeat_s, queue_limit

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        grant = self._grant(websocket)
        if isinstance(grant, str):
            # Accepted first, so the reason reaches the client in the close frame (which
            # holds at most 123 bytes; the messages are written to fit).
            await websocket.close(REFUSED, grant.encode()[:123].decode(errors="ignore"))
            return
        query = websocket.query_params
        session = Session(
            grant,
            self.queue_limit,
            close_existing=_flag(query.get("closeExistingSessions"), default=False),
            offline_if_disconnected=_flag(
                query.get("setWorkerOfflineIfDisconnected"), default=True
            ),
        )
        self._register(session)
        try:
            init = {
                "channel_id": session.worker_sid,
                "account_sid": grant.account_sid,
                "workspace_sid": grant.workspace_sid,
                "token_lifetime": grant.lifetime_ms(),
            }
            await websocket.send_text(frame("init", init))
            await self._serve(websocket, session)
        finally:
            self._unregister(session)

    def _grant(self, websocket: WebSocket) -> Grant | str:
        if not self._origin_allowed(websocket.headers.get("origin")):
            return "this origin may not connect (SWITCHBOARD_ALLOWED_ORIGINS)"
        token = websocket.query_params.get("token")
        if not token:
            return "token refused: the URL carries no token"
        try:
            grant = self.verify(token)
        except TokenRefused as refused:
            return f"token refused: {refused}"
        if grant.worker_sid is None:
            return "token refused: a websocket needs a token that names a worker"
        return grant

    async def _serve(self, websocket: WebSocket, session: Session) -> None:
        """Send until the client goes or the session ends; the client sends nothing, so
        reading only notices it going."""
        reader = asyncio.create_task(_until_closed(websocket))
        # The client going ends the session, which wakes the sender.
        reader.add_done_callback(lambda _: session.end(_GONE, "the client went"))
        try:
            while (text := await session.next_frame(self.heartbeat_s)) is not None:
                await websocket.send_text(text)
            code, reason = session.ending or (_GONE, "")
            if code != _GONE:
                log.info("worker %s disconnected: %s", session.worker_sid, reason)
                await websocket.close(code, reason)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


async def _until_closed(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass


def _flag(value: str | None, *, default: bool) -> bool:
    """A boolean of the socket's URL, as the SDK writes it (`true`/`false`)."""
    if value is None:
        return default
    return value.strip().lower() in ("true", "1", "yes")
