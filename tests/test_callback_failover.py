"""A sender that dies (its event loop simply stops, as under `kill -9`) leaves its in-flight
work to another within one lease: the assignment callback it was sending is sent again and
carried out, its event stream resumes. While it lives, it renews its leases, so nobody else
sends the same callback. Time moves only by hand: the engine's manual clock for assignment
callbacks, an injected wall clock for event streams."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from switchboard.api.context import Services
from switchboard.outbound import AssignmentCallbackSender, EventSender, Poster
from switchboard.outbound.assignment_callbacks import LEASE_MS as CALLBACK_LEASE_MS
from switchboard.outbound.event_callbacks import LEASE_MS as STREAM_LEASE_MS
from switchboard.timers import ManualClock
from tests.support import ACCOUNT_SID, Desk

DEADLINE_S = 10.0


def eventually(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {DEADLINE_S} s")
        time.sleep(0.005)


class Process:
    """A sender on an event loop of its own, in a thread: a process of its own, as far as
    the database is concerned. `kill` stops the loop where it stands and runs no cleanup."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(DEADLINE_S)

    def kill(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(DEADLINE_S)

    def bury(self) -> None:
        """After the test: end what the dead loop left pending, so nothing is reported
        destroyed while pending."""
        if self.thread.is_alive():
            self.kill()
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()


class Hanging:
    """A receiver that never answers; counts the requests it holds."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(dict(parse_qsl(request.content.decode())))
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def accepting(seen: list[dict[str, str]]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(dict(parse_qsl(request.content.decode())))
        return httpx.Response(200, json={"instruction": "accept"})

    return httpx.MockTransport(handle)


@pytest.fixture
def process() -> Iterator[Process]:
    process = Process()
    yield process
    process.bury()


def test_a_dead_senders_assignment_callback_is_sent_again_after_one_lease(
    services: Services, process: Process
) -> None:
    clock = services.clock
    assert isinstance(clock, ManualClock)
    desk = Desk(services, "http://app.test/assign")
    _, reservation = desk.task()
    hanging, seen = Hanging(), []
    first = AssignmentCallbackSender(
        services.store, services.engine.reservations, clock, timeout_s=600.0,
        poster=Poster(transport=httpx.MockTransport(hanging.handle)),
    )  # fmt: skip
    second = AssignmentCallbackSender(
        services.store,
        services.engine.reservations,
        clock,
        poster=Poster(transport=accepting(seen)),
    )
    process.run(first.start())
    eventually("the first sender's request", lambda: len(hanging.requests) == 1)

    # Alive, it renews its lease: past the first lease's end, nobody else may claim the row.
    for _ in range(3):
        clock.advance_ms(CALLBACK_LEASE_MS // 2)
        first.wake()
        eventually("a renewal", lambda: first.renewed_at == clock.now_ms())
    assert asyncio.run(second.run_once()) == 0

    process.kill()  # kill -9: no stop, no rows given back
    clock.advance_ms(CALLBACK_LEASE_MS - 1)
    assert asyncio.run(second.run_once()) == 0  # its lease still runs
    clock.advance_ms(1)
    assert asyncio.run(second.run_once()) == 1
    asyncio.run(second.stop())
    assert [s["ReservationSid"] for s in seen] == [reservation]
    assert desk.status(reservation) == "accepted"
    assert desk.outbox(reservation) == ("sent", 2, None)


def test_a_stopping_sender_gives_its_callbacks_back_at_once(services: Services) -> None:
    desk = Desk(services, "http://app.test/assign")
    _, reservation = desk.task()
    hanging, seen = Hanging(), []
    first = AssignmentCallbackSender(
        services.store, services.engine.reservations, services.clock, timeout_s=600.0,
        poster=Poster(transport=httpx.MockTransport(hanging.handle)),
    )  # fmt: skip

    async def shut_down_mid_send() -> None:
        await first.start()
        while not hanging.requests:
            await asyncio.sleep(0.005)
        await first.stop()

    asyncio.run(shut_down_mid_send())
    second = AssignmentCallbackSender(
        services.store,
        services.engine.reservations,
        services.clock,
        poster=Poster(transport=accepting(seen)),
    )
    assert asyncio.run(second.run_once()) == 1  # no clock moved: due again at once
    asyncio.run(second.stop())
    assert desk.status(reservation) == "accepted"


class WallClock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def test_a_dead_senders_event_stream_resumes_after_one_lease(
    services: Services, process: Process
) -> None:
    ws = services.engine.workspaces.create_workspace(
        ACCOUNT_SID, friendly_name="Failover", event_callback_url="http://app.test/events"
    ).sid
    wall, hanging, seen = WallClock(), Hanging(), []
    first = EventSender(
        services.store, services.clock, timeout_s=600.0, wall_ms=wall,
        poster=Poster(transport=httpx.MockTransport(hanging.handle)),
    )  # fmt: skip
    process.run(first.start())
    eventually("the first sender's request", lambda: len(hanging.requests) == 1)

    for _ in range(3):
        wall.now += STREAM_LEASE_MS // 2
        first.wake()
        eventually("a renewal", lambda: first.renewed_at == wall.now)
    # Renewed, the lease holds past its first end: nobody else can take the stream.
    assert not services.store.event_streams.claim(ws, "someone else", wall.now, 1)

    process.kill()
    wall.now += STREAM_LEASE_MS - 1
    assert not services.store.event_streams.claim(ws, "someone else", wall.now, 1)
    wall.now += 1
    second = EventSender(
        services.store, services.clock, wall_ms=wall, poster=Poster(transport=accepting(seen))
    )

    async def resume() -> None:
        await second.start()
        try:
            while not seen:
                await asyncio.sleep(0.005)
        finally:
            await second.stop()

    asyncio.run(asyncio.wait_for(resume(), DEADLINE_S))
    assert [s["EventType"] for s in seen] == ["workspace.created"]
    assert [r["Sid"] for r in hanging.requests] == [s["Sid"] for s in seen]
    stream = services.store.event_streams.get(ws)
    assert stream is not None and stream.delivered == 1
