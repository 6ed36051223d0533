"""`Realtime`: the worker SDK's endpoints and push loop, built from the app's settings."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from switchboard.config import Settings
from switchboard.engine.transfers import Transfers
from switchboard.engine.workers import Workers
from switchboard.models import Clock
from switchboard.realtime.fanout import Fanout
from switchboard.realtime.gateway import Gateway
from switchboard.realtime.inprocess import InProcess
from switchboard.realtime.presence import Presence
from switchboard.realtime.sessions import Session, Sockets, SocketsFirst
from switchboard.realtime.tokens import Verifier
from switchboard.storage import Store

# Mirrors Twilio's EventBridge (`https://event-bridge.twilio.com/v1/wschannels`): the SDK is
# given `{base}/v1/wschannels` as its ebServer and `ws://…/v1/wschannels` as its wsServer.
PATH = "/v1/wschannels"
# With other processes' commits announced by NOTIFY, the push loop still looks this often
# while sockets are connected: a safety net, not the way events arrive.
FALLBACK_POLL_S = 5.0
# The SDK's custom headers make every browser call preflighted.
_HEADERS = ["apiVersion", "clientVersion", "If-Match", "Content-Type", "Authorization"]


def allowed_origins(settings: Settings) -> list[str]:
    """Configured origins; any origin only when asked ("*") or with the manual clock, which
    marks a local, throw-away server."""
    if settings.allowed_origins:
        return [o.strip() for o in settings.allowed_origins.split(",") if o.strip()]
    return ["*"] if settings.clock == "manual" else []


class Realtime:
    def __init__(
        self, settings: Settings, store: Store, clock: Clock, workers: Workers,
        transfers: Transfers,
    ) -> None:  # fmt: skip
        self.inprocess = InProcess(store)
        verifier = Verifier(store)
        self.fanout = Fanout(store, clock)
        self.gateway = Gateway(
            store, clock, self.inprocess, verifier, transfers, hold=self.fanout.hold
        )
        # Other processes' commits (PostgreSQL) wake the push loop as they happen.
        self.listener = store.listen_for_events(self.fanout.on_notified)
        if self.listener is not None:
            self.fanout.poll_s = FALLBACK_POLL_S
        self.presence = Presence(
            store,
            workers,
            grace_s=settings.presence_grace_seconds,
            lapse_s=settings.presence_lapse_seconds,
        )
        self.origins = allowed_origins(settings)
        self.sockets = Sockets(
            verifier,
            register=self._opened,
            unregister=self._closed,
            origin_allowed=self.origin_allowed,
            heartbeat_s=float(settings.heartbeat_seconds),
        )

    def _opened(self, session: Session) -> None:
        self.fanout.register(session)
        self.presence.opened(session)

    def _closed(self, session: Session) -> None:
        self.fanout.unregister(session)
        self.presence.closed(session)

    def origin_allowed(self, origin: str | None) -> bool:
        # Clients outside a browser (Node, native apps) send no Origin.
        return origin is None or "*" in self.origins or origin in self.origins

    def routes(self) -> list[BaseRoute]:
        gateway = CORSMiddleware(
            self.gateway,
            allow_origins=self.origins,
            allow_methods=["POST"],
            allow_headers=_HEADERS,
            max_age=600,
        )
        return [Route(PATH, gateway)]

    def middleware(self) -> Middleware:
        """The websocket, served ahead of the HTTP middleware (see sessions.py); outermost."""
        return Middleware(SocketsFirst, path=PATH, sockets=self.sockets)

    def attach(self, app: ASGIApp) -> None:
        """The application whose REST handlers the gateway calls."""
        self.inprocess.attach(app)

    def start(self) -> None:
        self.fanout.loop.start()
        if self.listener is not None:
            self.listener.start()
        self.presence.start()

    async def stop(self) -> None:
        if self.listener is not None:
            await self.listener.close()
        await self.fanout.loop.close()
        self.sockets.heartbeats.stop()
        await self.presence.stop()
