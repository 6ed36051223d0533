"""Background loops that cannot die: failures are injected into each loop (the tick loop and
both callback senders) and each is seen to log, back off and recover; a tick loop that cannot
reach the database stops claiming the leadership; /switchboard/health tells the truth.

Callbacks go through an in-process httpx transport (the poster's seam): no sockets, and each
wait is on a condition with a deadline, never a fixed sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.testclient import TestClient

from switchboard.api.context import Services
from switchboard.app import create_app
from switchboard.background import BackgroundLoop
from switchboard.outbound import AssignmentCallbackSender, EventSender, Poster
from switchboard.storage.leader import SoleLeader
from switchboard.timers import TickLoop
from tests.support import ACCOUNT_SID, Desk, make_services

DEADLINE_S = 10.0


async def until(what: str, check: Callable[[], bool]) -> None:
    """Yield to the event loop until `check` holds; fail after the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {DEADLINE_S} s")
        await asyncio.sleep(0.005)


def eventually(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {DEADLINE_S} s")
        time.sleep(0.01)


class Flaky:
    """Wraps a callable so that its next `failures` calls raise, as a database error would."""

    def __init__(self, real: Callable[..., Any], failures: int) -> None:
        self.real, self.failures, self.calls = real, failures, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("the database went away")
        return self.real(*args, **kwargs)


def fast(loop: BackgroundLoop) -> None:
    loop.backoff_base_s = loop.backoff_cap_s = 0.01


# -- the loop abstraction ------------------------------------------------------------------------


def test_a_failing_pass_is_logged_retried_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcomes: list[str] = []

    async def one_pass() -> float:
        if len(outcomes) < 3:
            outcomes.append("failed")
            raise RuntimeError(f"failure {len(outcomes)}")
        outcomes.append("ok")
        return 60.0

    async def scenario() -> None:
        loop = BackgroundLoop("flaky", one_pass, log=__import__("logging").getLogger("t"))
        fast(loop)
        loop.start()
        await until("a good pass", lambda: "ok" in outcomes)
        status = loop.status()
        assert status.running and status.failures == 0 and status.last_pass is not None
        loop.wake()  # a wake-up cuts the 60 s sleep short
        await until("a second good pass", lambda: outcomes.count("ok") == 2)
        await loop.close()
        assert not loop.status().running

    asyncio.run(scenario())
    assert outcomes[:4] == ["failed", "failed", "failed", "ok"]
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 3 and "flaky failed (3 in a row)" in errors[-1].getMessage()


def test_the_status_shows_failures_while_they_last() -> None:
    broken = True

    async def one_pass() -> float:
        if broken:
            raise OSError("unreachable")
        return 60.0

    async def scenario() -> None:
        nonlocal broken
        loop = BackgroundLoop("probe", one_pass, log=__import__("logging").getLogger("t"))
        fast(loop)
        loop.start()
        await until("two failures", lambda: loop.status().failures >= 2)
        status = loop.status()
        assert status.running and status.last_pass is None
        assert status.last_error == "OSError: unreachable"
        broken = False
        await until("recovery", lambda: loop.status().failures == 0)
        assert loop.status().last_error is None and loop.status().last_pass is not None
        await loop.close()

    asyncio.run(scenario())


# -- the tick loop -------------------------------------------------------------------------------


class Engine:
    """A deadline falls due 10 ms after each tick; `next_deadline` and `tick` fail while
    `down`."""

    def __init__(self) -> None:
        self.down = False
        self.ticks = 0
        self.due = 0

    def tick(self, now: int | None = None, *, limit: int | None = None) -> int:
        if self.down:
            raise ConnectionError("server closed the connection unexpectedly")
        self.ticks += 1
        self.due = self.now() + 10
        return 1

    def next_deadline(self) -> int | None:
        if self.down:
            raise ConnectionError("server closed the connection unexpectedly")
        return self.due

    def now(self) -> int:
        return time.monotonic_ns() // 1_000_000


class Lock:
    """A leadership that cannot be checked while `down` (as AdvisoryLeader raises)."""

    shared = True

    def __init__(self) -> None:
        self.down = False
        self.released = 0

    async def check(self) -> bool:
        if self.down:
            raise ConnectionError("could not connect to server")
        return True

    def release(self) -> None:
        self.released += 1


@pytest.mark.parametrize("where", ["next_deadline", "tick", "leadership"])
def test_the_tick_loop_outlives_database_errors_and_leads_only_when_it_can(where: str) -> None:
    async def scenario() -> None:
        engine, lock = Engine(), Lock()
        ticker = TickLoop(engine, lock)
        fast(ticker.loop)
        running = asyncio.create_task(ticker.run())
        await until("leadership", lambda: ticker.is_leader and ticker.status().healthy)
        if where == "leadership":
            lock.down = True
        else:
            engine.down = True
        ticker.wake()
        await until("the failure to be seen", lambda: ticker.status().loop.failures >= 2)
        assert not ticker.is_leader  # never claims to lead while it cannot reach the database
        assert lock.released >= 1  # and lets another process take the lock
        assert not ticker.status().healthy
        lock.down = engine.down = False
        ticks = engine.ticks
        await until("recovery", lambda: ticker.is_leader and engine.ticks > ticks)
        assert ticker.status().healthy
        ticker.stop()
        await asyncio.wait_for(running, 5)
        assert not ticker.is_leader

    asyncio.run(scenario())


def test_a_sole_leader_still_ticks_after_its_engine_failed() -> None:
    async def scenario() -> None:
        engine = Engine()
        engine.down = True
        ticker = TickLoop(engine, SoleLeader())
        fast(ticker.loop)
        running = asyncio.create_task(ticker.run())
        await until("failures", lambda: ticker.status().loop.failures >= 3)
        assert not ticker.is_leader
        engine.down = False
        await until("a tick", lambda: engine.ticks >= 1 and ticker.is_leader)
        ticker.stop()
        await asyncio.wait_for(running, 5)

    asyncio.run(scenario())


# -- the callback senders ------------------------------------------------------------------------


def accepting(seen: list[dict[str, str]]) -> httpx.MockTransport:
    """A receiver in process that records each form and accepts any offer."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(dict(parse_qsl(request.content.decode())))
        return httpx.Response(200, json={"instruction": "accept"})

    return httpx.MockTransport(handle)


def run_until(
    sender: AssignmentCallbackSender | EventSender, done: Callable[[], bool]
) -> Callable[[], Awaitable[None]]:
    async def scenario() -> None:
        await sender.start()
        try:
            await until("delivery", done)
        finally:
            await sender.stop()

    return scenario


def test_the_assignment_sender_recovers_from_failing_claims(services: Services) -> None:
    seen: list[dict[str, str]] = []
    store = services.store
    flaky = Flaky(store.assignment_callbacks.claim, failures=3)
    store.assignment_callbacks.claim = flaky  # type: ignore[method-assign]
    desk = Desk(services, "http://app.test/assign")
    _, reservation = desk.task()
    sender = AssignmentCallbackSender(
        store,
        services.engine.reservations,
        services.clock,
        poster=Poster(transport=accepting(seen)),
    )
    fast(sender.loop)
    asyncio.run(run_until(sender, lambda: desk.status(reservation) == "accepted")())
    assert flaky.calls >= 4 and [s["ReservationSid"] for s in seen] == [reservation]
    assert desk.outbox(reservation) == ("sent", 1, None)


def test_the_event_sender_recovers_from_failing_scans_and_streams(services: Services) -> None:
    seen: list[dict[str, str]] = []
    store = services.store
    ws = services.engine.workspaces.create_workspace(
        ACCOUNT_SID, friendly_name="Flaky", event_callback_url="http://app.test/events"
    ).sid
    scan = Flaky(store.event_streams.due, failures=3)
    read = Flaky(store.events.after, failures=2)
    store.event_streams.due = scan  # type: ignore[method-assign]
    store.events.after = read  # type: ignore[method-assign]
    sender = EventSender(
        store, services.clock, poll_s=0.01, poster=Poster(transport=accepting(seen))
    )
    fast(sender.loop)
    asyncio.run(run_until(sender, lambda: len(seen) == 1)())
    assert scan.calls >= 4 and read.calls >= 3
    assert [s["EventType"] for s in seen] == ["workspace.created"]
    stream = store.event_streams.get(ws)
    assert stream is not None and stream.delivered == 1


# -- health --------------------------------------------------------------------------------------


def test_health_reports_the_tick_loop_and_answers_503_while_it_fails(tmp_path: Path) -> None:
    services = make_services(tmp_path, clock="system")  # the app runs its tick loop
    app = create_app(services.settings, services=services)
    engine = services.engine.deadlines
    real = engine.next_deadline
    with TestClient(app, base_url="http://testserver") as http:
        ticker = app.state.tick_loop
        fast(ticker.loop)
        eventually("a first pass", lambda: ticker.status().loop.last_pass is not None)
        body = http.get("/switchboard/health").json()
        assert body["status"] == "ok" and body["tick_leader"] is True
        tick = body["tick"]
        assert tick["running"] and tick["leader"] and tick["failures"] == 0
        assert tick["last_pass_ms"] > 0 and tick["lag_ms"] >= 0
        assert tick["last_pass"].endswith("Z")

        engine.next_deadline = Flaky(real, failures=10**9)  # type: ignore[method-assign]
        ticker.wake()
        eventually("a failed pass", lambda: ticker.status().loop.failures > 0)
        response = http.get("/switchboard/health")
        assert response.status_code == 503
        error = response.json()
        assert (error["code"], error["status"]) == (20503, 503)
        assert "database went away" in error["message"]
        assert error["more_info"].endswith("20503")
        assert error["details"]["tick"]["leader"] is False
        assert error["details"]["tick_leader"] is False

        engine.next_deadline = real  # type: ignore[method-assign]
        eventually("recovery", lambda: http.get("/switchboard/health").status_code == 200)
        assert http.get("/switchboard/health").json()["tick_leader"] is True
    services.store.close()


def test_health_with_the_manual_clock_has_no_tick_loop(http: TestClient) -> None:
    body = http.get("/switchboard/health").json()
    assert body["clock"] == "manual" and body["tick"] is None and body["status"] == "ok"


def test_a_stopped_tick_loop_is_unhealthy(tmp_path: Path) -> None:
    services = make_services(tmp_path, clock="system")
    app = create_app(services.settings, services=services)
    with TestClient(app, base_url="http://testserver") as http:
        ticker = app.state.tick_loop
        eventually("a first pass", lambda: ticker.status().loop.last_pass is not None)
        ticker.stop()
        eventually("the loop to end", lambda: not ticker.status().loop.running)
        response = http.get("/switchboard/health")
        assert response.status_code == 503
        assert response.json()["details"]["tick"]["running"] is False
    services.store.close()


def test_a_sender_runs_again_in_a_second_lifespan(services: Services) -> None:
    """The same app started twice (two lifespans, two event loops) delivers both times."""
    seen: list[dict[str, str]] = []
    app = create_app(services.settings, services=services)
    app.state.poster.use_transport(accepting(seen))
    for n in range(2):
        with TestClient(app, base_url="http://testserver"):
            services.engine.workspaces.create_workspace(
                ACCOUNT_SID, friendly_name=f"Life {n}", event_callback_url="http://app.test/e"
            )
            eventually(f"delivery in lifespan {n}", lambda n=n: len(seen) == n + 1)
