"""create_app(settings): the Starlette application, its error handling and its lifespan."""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from switchboard.api import ROUTES, render
from switchboard.api.context import Services, authenticate, services_of
from switchboard.api.pagination import Pager
from switchboard.api.rate_limits import rate_limits_for
from switchboard.config import Settings
from switchboard.console import Console, console_routes
from switchboard.engine import Engine, Limits
from switchboard.errors import DatabaseUnavailable, MethodNotAllowed, TwilioError, not_found
from switchboard.metrics import MetricsEndpoint, ProcessCounters, TickReading
from switchboard.middleware import Frontline
from switchboard.models import Clock
from switchboard.outbound import AssignmentCallbackSender, EventSender, Poster
from switchboard.realtime import Realtime
from switchboard.storage import Store
from switchboard.storage.leader import leader_for
from switchboard.timers import ManualClock, SystemClock, TickLoop

log = logging.getLogger("switchboard")
# Tasks per workspace, in any state (behaviour.md §9); only with --limits twilio.
TWILIO_MAX_TASKS = 500_000
# The interpreter's switch interval while reads run on the read pool (PostgreSQL); Python's
# default is 5 ms. A pool read takes the interpreter lock twice (to send its statement, and
# to take its rows) from the event loop's thread, which holds it while it works and gives it
# up to a waiting thread only at this interval. Beside full-speed lifecycles at 1 ms a round
# trip, 2 ms took the worker fetch's p99 from 22.9 to 20.5 ms (medians of six runs) and
# cost no lifecycles; 0.5 ms cost the loop more than it gave back (bench/HISTORY.md,
# rounds 6 and 8).
READ_POOL_SWITCH_INTERVAL_S = 0.002

# Completed and canceled tasks are deleted 5 minutes after they close (TaskRouter's task-state
# page; an older limits page says 15); only with --limits twilio.
TWILIO_CLOSED_TASK_RETENTION_MS = 5 * 60 * 1000


def make_clock(settings: Settings) -> Clock:
    return ManualClock() if settings.clock == "manual" else SystemClock()


def build_services(
    settings: Settings, store: Store | None = None, clock: Clock | None = None
) -> Services:
    """Open the store (migrating it), and build the engine and its helpers."""
    store = store or Store.open(settings.database_url)
    store.use_server_secret(settings.secret_key)
    clock = clock or make_clock(settings)
    twilio = settings.limits == "twilio"
    limits = Limits(
        settings.max_workers_per_workspace,
        max_tasks_per_workspace=TWILIO_MAX_TASKS if twilio else None,
        closed_task_retention_ms=TWILIO_CLOSED_TASK_RETENTION_MS if twilio else None,
    )
    engine = Engine(store, clock, limits)
    # One page-token secret per database, so every process sharing it accepts the same tokens.
    secret = store.set_meta_once("page_token_secret", secrets.token_hex(32))
    return Services(
        settings, store, engine, clock, Pager(secret.encode()),
        rate_limits=rate_limits_for(settings.limits),
    )  # fmt: skip


async def _twilio_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TwilioError)
    return render.json_response(exc.to_dict(), exc.status)


async def _unavailable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DatabaseUnavailable)
    return render.json_response(exc.to_dict(), exc.status, {"Retry-After": str(exc.retry_after)})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error: TwilioError = not_found(request.url.path.removeprefix("/v1"))
    elif exc.status_code == 405:
        error = MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}")
    else:
        error = TwilioError(str(exc.detail), status=exc.status_code, code=exc.status_code)
    return render.json_response(error.to_dict(), error.status)


def _metrics_route(app: Starlette, services: Services, counters: ProcessCounters) -> Route:
    def tick() -> TickReading | None:
        loop = app.state.tick_loop
        if loop is None:
            return None
        status = loop.status()
        return TickReading(status.is_leader, status.lag_ms)

    endpoint = MetricsEndpoint(
        services.store, services.clock, counters,
        authenticate=lambda request: authenticate(request, services_of(request)),
        token=services.settings.metrics_token, tick=tick,
    )  # fmt: skip
    return Route("/switchboard/metrics", endpoint.fetch_metrics, methods=["GET"])


def create_app(
    settings: Settings,
    *,
    services: Services | None = None,
    callback_transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """The ASGI application serving Twilio's TaskRouter API and Switchboard's own endpoints.

    `callback_transport` carries every outgoing callback (assignment and event) instead of
    the network, e.g. `httpx.ASGITransport(app=...)` to deliver them to an application in
    process; `app.state.poster.use_transport(...)` changes it while the app runs."""
    services = services or build_services(settings)
    poster = Poster(transport=callback_transport)
    realtime = Realtime(
        settings, services.store, services.clock, services.engine.workers,
        services.engine.transfers,
    )  # fmt: skip
    counters = ProcessCounters()
    # Database time per request, or as background work (start-up's warm-up included).
    services.store.observe_database(counters.observe_database)
    console = Console(
        services.store, services.engine, services.clock, manual_clock=settings.clock == "manual",
        # One secret per database: every process sharing it accepts the same sessions.
        secret=services.store.set_meta_once("console_secret", secrets.token_hex(32)).encode(),
    )  # fmt: skip

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services.engine.warm_up()
        # The routing index is long-lived: move it out of the collector's reach, or every full
        # collection walks hundreds of thousands of objects, a pause each time.
        gc.collect()
        gc.freeze()
        # The engine allocates millions of short-lived objects in a burst (records, event
        # bodies, rows); at the default 700-allocation threshold the young generation is
        # collected thousands of times and older ones often. Rarer collections make a large
        # tick markedly cheaper (bench/routing.py, figure 3).
        gc.set_threshold(10_000, 20, 20)
        switch_interval = sys.getswitchinterval()
        if services.store.reads_off_loop:
            sys.setswitchinterval(READ_POOL_SWITCH_INTERVAL_S)
        ticker = None
        if settings.clock == "system":
            # With the manual clock, time moves only through /switchboard/clock, which ticks.
            ticker = TickLoop(
                services.engine.deadlines,
                leader_for(settings.database_url),
                read=services.store.read,
            )
            loop = ticker
            services.engine.commit_listeners.append(lambda tx: loop.wake_for(tx.earliest_deadline))
            task = asyncio.create_task(ticker.run(), name="switchboard-tick")
            services.is_tick_leader = lambda: ticker.is_leader
        app.state.tick_loop = ticker
        sender = AssignmentCallbackSender(
            services.store, services.engine.reservations, services.clock, poster=poster
        )
        await sender.start()
        services.engine.commit_listeners.append(sender.on_commit)
        # A caller may supply its own (tests tune its timeout and backoff).
        events_out = getattr(app.state, "event_sender", None) or EventSender(
            services.store,
            services.clock,
            retention_days=settings.event_retention_days,
            max_attempts=settings.event_callback_attempts,
            poster=poster,
        )
        app.state.event_sender = events_out
        await events_out.start()
        services.engine.commit_listeners.append(events_out.on_commit)
        services.engine.commit_listeners.append(counters.on_commit)
        console.feed.attach(asyncio.get_running_loop())
        services.engine.commit_listeners.append(console.feed.on_commit)
        # Writes made on the event loop share commits (SQLite; see api/committed.py).
        services.store.group_commits(asyncio.get_running_loop().call_soon)
        realtime.start()
        services.engine.commit_listeners.append(realtime.fanout.on_commit)
        try:
            yield
        finally:
            services.engine.commit_listeners.remove(realtime.fanout.on_commit)
            await realtime.stop()
            services.store.commit_each_write()
            services.engine.commit_listeners.remove(counters.on_commit)
            services.engine.commit_listeners.remove(console.feed.on_commit)
            console.feed.attach(None)
            services.engine.commit_listeners.remove(events_out.on_commit)
            await events_out.stop()
            services.engine.commit_listeners.remove(sender.on_commit)
            await sender.stop()
            await poster.aclose()
            if ticker is not None:
                ticker.stop()
                await task
            sys.setswitchinterval(switch_interval)

    app = Starlette(
        # The gateway first: the router tries routes in order, and agents' calls are many.
        routes=[*realtime.routes(), *ROUTES],
        # Outermost first: the worker SDK's websocket skips the rest (its frames would stay on
        # every idle socket's stack); then request ids, the body limit, answers after their
        # commit, unexpected errors and request metrics: one middleware, each concern a
        # function it calls (middleware.py).
        middleware=[
            realtime.middleware(),
            Middleware(
                Frontline,
                store=services.store,
                counters=counters,
                max_body_bytes=settings.max_body_bytes,
            ),
        ],
        lifespan=lifespan,
        exception_handlers={
            DatabaseUnavailable: _unavailable,
            TwilioError: _twilio_error,
            HTTPException: _http_error,
        },
    )
    realtime.attach(app)
    app.router.routes.append(_metrics_route(app, services, counters))
    app.router.routes.extend(console_routes(console))
    app.state.services = services
    app.state.realtime = realtime
    app.state.poster = poster
    app.state.tick_loop = None
    return app
