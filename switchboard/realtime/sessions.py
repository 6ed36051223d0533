"""The SDK's websocket (its `wsServer`): server to client only.

A session opens with `init`, then carries `{event_type, payload}` frames pushed by the fan-out
(fanout.py) and a whitespace heartbeat whenever it has been quiet for a while (the SDK
reconnects after 30 s of silence). Each session has a bounded queue: a client that cannot keep
up is disconnected (it reconnects and refetches the current state) rather than holding memory
or slowing anyone else.

Thousands of sockets are open and nearly all idle, so what an idle one holds is what they cost
together (bench/realtime.py measures it). An idle session is its connection's own coroutine
waiting to hear the client go, and a small object: no task of its own, no timer, no future. A
frame offered starts a short-lived task that sends what is queued and ends; one timer for the
whole process sends the heartbeats (`Heartbeats`). The socket is served as a bare ASGI app,
ahead of the HTTP middleware (`SocketsFirst`), whose frames would otherwise stay on every
connection's stack for its whole life.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard.fastjson import dumps
from switchboard.realtime.tokens import Grant, TokenRefused, Verifier

log = logging.getLogger("switchboard.realtime")

# Close codes: 1008 policy violation (a refused token or origin), 1013 try again later, and
# one of the application's range for a session replaced by a newer one (closeExistingSessions).
REFUSED, TOO_SLOW, REPLACED = 1008, 1013, 4000
# The client went: the session ends without a close frame of ours.
_GONE = 1001
# A close frame's reason holds at most 123 bytes.
_REASON_BYTES = 123
HEARTBEAT = " "
# How often the heartbeats' one timer looks for sessions due one (see Heartbeats).
TICK_S = 0.05

AsgiSend = Callable[[Message], Awaitable[None]]


class Session:
    """One connected socket of one worker: its queue of frames and how it ends."""

    __slots__ = (
        "_frames",
        "_holds",
        "_limit",
        "_send",
        "_sender",
        "_sent",
        "close_existing",
        "ending",
        "grant",
        "id",
        "offline_if_disconnected",
        "worker_sid",
        "workspace_sid",
    )  # fmt: skip

    def __init__(
        self,
        grant: Grant,
        queue_limit: int,
        send: AsgiSend | None = None,
        *,
        close_existing: bool = False,
        offline_if_disconnected: bool = True,
        sent: Callable[[Session], None] | None = None,
    ) -> None:
        assert grant.worker_sid is not None
        self.id = secrets.token_hex(12)
        self.grant = grant
        self.worker_sid: str = grant.worker_sid
        self.workspace_sid = grant.workspace_sid
        self.close_existing = close_existing
        self.offline_if_disconnected = offline_if_disconnected
        # Set once the session is to end: the close code and reason its socket is closed with.
        self.ending: tuple[int, str] | None = None
        self._frames: list[str] = []
        # While above 0, frames are queued but not sent (`hold`).
        self._holds = 0
        self._limit = queue_limit
        self._send = send
        self._sender: asyncio.Task[None] | None = None
        # Told after each frame goes out (the heartbeats' clock).
        self._sent = sent

    def offer(self, frame: str) -> None:
        """Queue a frame; a full queue ends the session (never blocks the pusher)."""
        if self.ending is not None:
            return
        if len(self._frames) >= self._limit:
            self.end(TOO_SLOW, "the client fell behind; reconnect")
            return
        self._frames.append(frame)
        self._start_sending()

    def end(self, code: int, reason: str) -> None:
        """End the session: its socket closes with `code` and `reason` as soon as the frame
        being sent (if any) is out, whatever frames are still queued."""
        if self.ending is not None:
            return
        self.ending = (code, reason)
        self._frames.clear()
        if code != _GONE:
            self._start_sending()

    def hold(self) -> None:
        """Queue frames without sending them until `release`: the gateway holds its caller's
        sessions while it answers, so that the answer of a call reaches the SDK before the
        pushes the call caused (docs/worker-sdk.md, "Answers before pushes")."""
        self._holds += 1

    def release(self) -> None:
        self._holds -= 1
        if self._holds == 0 and self._frames:
            self._start_sending()

    def _start_sending(self) -> None:
        if self._holds and self.ending is None:
            return
        if self._sender is None and self._send is not None:
            self._sender = asyncio.get_running_loop().create_task(self._drain(self._send))

    async def _drain(self, send: AsgiSend) -> None:
        """Send what is queued, in order, then the close once ending; offers made meanwhile
        are sent by this same task, so frames never overtake one another."""
        try:
            while self.ending is None and self._frames and not self._holds:
                frames, self._frames = self._frames, []
                for text in frames:
                    if self.ending is not None:
                        break
                    await send({"type": "websocket.send", "text": text})
                if self._sent is not None:
                    self._sent(self)
            if self.ending is not None and self.ending[0] != _GONE:
                code, reason = self.ending
                log.info("worker %s disconnected: %s", self.worker_sid, reason)
                await send({"type": "websocket.close", "code": code, "reason": reason})
        except (OSError, RuntimeError):
            # The client went while we wrote: its connection's coroutine hears it too.
            self.end(_GONE, "the client went")
        finally:
            self._sender = None


class Held:
    """One worker's sessions held (`Session.hold`) while the gateway answers it."""

    __slots__ = ("_sessions",)

    def __init__(self, sessions: tuple[Session, ...]) -> None:
        self._sessions = sessions
        for session in sessions:
            session.hold()

    def release(self) -> None:
        for session in self._sessions:
            session.release()


def frame(event_type: str, payload: object) -> str:
    return dumps({"event_type": event_type, "payload": payload})


class Heartbeats:
    """One timer for every session: a session quiet for `interval_s` is sent a heartbeat.

    Sessions are kept in the order they last sent something, so each tick looks only at the
    ones that are due. Ticks come often (every `TICK_S`), so each sends a few heartbeats: a
    second's worth at once (a thousand sockets opened in the same second) would hold the loop
    for tens of milliseconds, and the frames pushed meanwhile with it."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._quiet: dict[Session, float] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, session: Session) -> None:
        self.sent(session)
        if self._timer is None:
            self._schedule()

    def sent(self, session: Session) -> None:
        quiet = self._quiet
        quiet.pop(session, None)
        quiet[session] = time.monotonic()

    def discard(self, session: Session) -> None:
        self._quiet.pop(session, None)

    def _schedule(self) -> None:
        delay = min(self.interval_s / 4, TICK_S)
        self._timer = asyncio.get_running_loop().call_later(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        due_before = time.monotonic() - self.interval_s
        due = []
        for session, since in self._quiet.items():
            if since > due_before:
                break
            due.append(session)
        for session in due:
            self.sent(session)
            session.offer(HEARTBEAT)
        if self._quiet:
            self._schedule()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Sockets:
    """Accepts, serves and ends websocket sessions, as a bare ASGI app; `register` and
    `unregister` tie each to the fan-out that feeds it."""

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
        self.heartbeats = Heartbeats(heartbeat_s)

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One connection, for its whole life: this coroutine's frame is what every idle
        socket keeps, so whatever it needs only to open is made and dropped in `_open`."""
        if (await receive())["type"] != "websocket.connect":
            return
        opened = self._open(scope, send)
        # The handshake's headers and query (the token) would be kept with the connection.
        scope["headers"], scope["query_string"] = [], b""
        await send({"type": "websocket.accept"})
        if isinstance(opened, str):
            # Accepted first, so the reason reaches the client in the close frame.
            reason = opened.encode()[:_REASON_BYTES].decode(errors="ignore")
            await send({"type": "websocket.close", "code": REFUSED, "reason": reason})
            return
        self._start(opened)
        try:
            # The client sends nothing: reading only hears it go (or our close answered).
            while (await receive())["type"] != "websocket.disconnect":
                pass
        finally:
            opened.end(_GONE, "the client went")
            self.heartbeats.discard(opened)
            self._unregister(opened)

    def _open(self, scope: Scope, send: Send) -> Session | str:
        """The session the handshake asks for, or why it is refused."""
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        grant = self._grant(_header(scope, b"origin"), query.get("token"))
        if isinstance(grant, str):
            return grant
        return Session(
            grant,
            self.queue_limit,
            send,
            close_existing=_flag(query.get("closeExistingSessions"), default=False),
            offline_if_disconnected=_flag(
                query.get("setWorkerOfflineIfDisconnected"), default=True
            ),
            sent=self.heartbeats.sent,
        )

    def _start(self, session: Session) -> None:
        """Register the session and queue its `init` before anything can be pushed to it
        (nothing here awaits)."""
        grant = session.grant
        init = {
            "channel_id": session.worker_sid,
            "account_sid": grant.account_sid,
            "workspace_sid": grant.workspace_sid,
            "token_lifetime": grant.lifetime_ms(),
        }
        self._register(session)
        session.offer(frame("init", init))
        self.heartbeats.add(session)

    def _grant(self, origin: str | None, token: str | None) -> Grant | str:
        if not self._origin_allowed(origin):
            return "this origin may not connect (SWITCHBOARD_ALLOWED_ORIGINS)"
        if not token:
            return "token refused: the URL carries no token"
        try:
            grant = self.verify(token)
        except TokenRefused as refused:
            return f"token refused: {refused}"
        if grant.worker_sid is None:
            return "token refused: a websocket needs a token that names a worker"
        return grant


class SocketsFirst:
    """Middleware, outermost: the websocket at `path` goes straight to `sockets`; everything
    else on to the application's own middleware and routes."""

    def __init__(self, app: ASGIApp, *, path: str, sockets: Sockets) -> None:
        self.app, self.path, self.sockets = app, path, sockets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == self.path:
            await self.sockets.serve(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    headers: Any = scope.get("headers", ())
    for key, value in headers:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _flag(value: str | None, *, default: bool) -> bool:
    """A boolean of the socket's URL, as the SDK writes it (`true`/`false`)."""
    if value is None:
        return default
    return value.strip().lower() in ("true", "1", "yes")
