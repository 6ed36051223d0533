"""Callback receivers that are broken or hostile: an endless reply, a URL that never answers,
redirects, an event a receiver never takes. The server reads a bounded number of bytes, a
dead destination never holds up another workspace's callbacks, a 3xx is a failure (never
followed), and a stream skips what it cannot deliver and says so.

Most receivers live in process behind the poster's transport seam, so what the server pulls
from a reply is counted exactly; one endless reply goes over a real socket. Orderings are
asserted, never durations."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.testclient import TestClient

from switchboard.api.context import Services
from switchboard.app import create_app
from switchboard.outbound import AssignmentCallbackSender, EventSender, Poster
from switchboard.outbound.poster import MAX_REPLY_BYTES
from tests.support import ACCOUNT_SID, AUTH_TOKEN, Desk

DEADLINE_S = 10.0
CHUNK = 16 * 1024


async def until(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {DEADLINE_S} s")
        await asyncio.sleep(0.005)


@dataclass
class Receivers:
    """Receivers in process, one behaviour per host; every request and every byte of reply
    the server pulled is counted."""

    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    pulled: int = 0
    never: asyncio.Event | None = None
    redirect_sids: set[str] = field(default_factory=set)

    def hosts(self) -> list[str]:
        return [host for host, _ in self.seen]

    async def endless(self) -> AsyncIterator[bytes]:
        while True:
            self.pulled += CHUNK
            yield b"x" * CHUNK

    async def trickle(self) -> AsyncIterator[bytes]:
        """The start of a reply, then nothing more, ever."""
        self.pulled += 1
        yield b'{"instruction": '
        await asyncio.Event().wait()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        form = dict(parse_qsl(request.content.decode()))
        self.seen.append((host, form))
        if host == "trickle.test":
            return httpx.Response(
                200, headers={"Content-Type": "application/json"}, content=self.trickle()
            )
        if host == "endless.test":
            return httpx.Response(
                200, headers={"Content-Type": "application/json"}, content=self.endless()
            )
        if host == "never.test":
            self.never = self.never or asyncio.Event()
            await self.never.wait()  # nobody sets it: the receiver never answers
        if host == "redirect.test" or form.get("Sid") in self.redirect_sids:
            return httpx.Response(302, headers={"Location": "http://app.test/elsewhere"})
        return httpx.Response(200, json={"instruction": "accept"})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


@pytest.fixture
def receivers() -> Receivers:
    return Receivers()


def assignment_sender(
    services: Services, receivers: Receivers, **options: Any
) -> AssignmentCallbackSender:
    poster = Poster(transport=receivers.transport())
    return AssignmentCallbackSender(
        services.store, services.engine.reservations, services.clock, poster=poster, **options
    )


def run_once(sender: AssignmentCallbackSender) -> None:
    async def go() -> None:
        try:
            await sender.run_once()
        finally:
            await sender.stop()

    asyncio.run(go())


# -- endless replies ----------------------------------------------------------------------------


def test_an_endless_assignment_reply_is_read_only_up_to_the_cap(
    services: Services, receivers: Receivers
) -> None:
    desk = Desk(services, "http://endless.test/assign")
    _, reservation = desk.task()
    run_once(assignment_sender(services, receivers))
    state, _, error = desk.outbox(reservation)
    assert state == "failed" and error is not None
    assert error.startswith("40001") and f"longer than {MAX_REPLY_BYTES} bytes" in error
    assert receivers.pulled <= MAX_REPLY_BYTES + CHUNK
    assert desk.status(reservation) == "pending"


def test_an_endless_event_reply_acknowledges_the_event_and_is_read_only_up_to_the_cap(
    services: Services, receivers: Receivers
) -> None:
    ws = services.engine.workspaces.create_workspace(
        ACCOUNT_SID, friendly_name="Endless", event_callback_url="http://endless.test/events"
    ).sid
    services.engine.activities.create_activity(ws, friendly_name="Break", available=False)
    sender = EventSender(
        services.store, services.clock, poster=Poster(transport=receivers.transport())
    )

    async def scenario() -> None:
        await sender.start()
        try:
            await until("both events", lambda: len(receivers.seen) == 2)
            await until("the acknowledgements", lambda: delivered(services, ws) == 2)
        finally:
            await sender.stop()

    asyncio.run(scenario())
    assert receivers.pulled <= 2 * (MAX_REPLY_BYTES + CHUNK)


def test_a_reply_that_stops_mid_body_ends_with_the_time_budget(
    services: Services, receivers: Receivers
) -> None:
    desk = Desk(services, "http://trickle.test/assign")
    _, reservation = desk.task()
    run_once(assignment_sender(services, receivers, timeout_s=0.2))
    state, _, error = desk.outbox(reservation)
    assert state == "failed" and error is not None
    assert error == "40001: the reply was not complete within 0.2 s; no instruction was carried out"
    assert desk.status(reservation) == "pending"


def delivered(services: Services, ws: str) -> int:
    stream = services.store.event_streams.get(ws)
    return stream.delivered if stream else 0


class EndlessServer:
    """A real socket that answers every request 200 and then writes for as long as anyone
    reads, counting what it managed to write."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.written = 0
        self.requests = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/events"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            self.requests += 1
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
            chunk = b"x" * 65536
            try:
                while self.written < self.limit:
                    conn.sendall(chunk)
                    self.written += len(chunk)
            except OSError:
                pass  # the server hung up: what it read is all it will read

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def endless_server() -> Iterator[EndlessServer]:
    server = EndlessServer(limit=256 * 1024 * 1024)
    yield server
    server.close()


def test_an_endless_reply_over_a_socket_is_hung_up_on(
    services: Services, endless_server: EndlessServer
) -> None:
    """The issue's receiver: 200 and a body that never ends. What the server takes in is
    bounded by its cap plus the kernel's socket buffers, far below what was on offer."""
    ws = services.engine.workspaces.create_workspace(
        ACCOUNT_SID, friendly_name="Endless", event_callback_url=endless_server.url
    ).sid
    sender = EventSender(services.store, services.clock, timeout_s=30.0)

    async def scenario() -> None:
        await sender.start()
        try:
            await until("the acknowledgement", lambda: delivered(services, ws) == 1)
        finally:
            await sender.stop()

    asyncio.run(scenario())
    assert endless_server.requests == 1
    assert endless_server.written < 32 * 1024 * 1024 < endless_server.limit


# -- a destination that never answers ----------------------------------------------------------


def test_a_dead_url_does_not_hold_up_another_workspaces_callback(
    services: Services, receivers: Receivers
) -> None:
    """200 offers to a URL that never answers, then one to a healthy URL: the healthy one is
    sent and carried out while every dead one is still pending, and the dead URL never has
    more than its share of requests open."""
    dead = Desk(services, "http://never.test/assign", workers=200)
    dead_offers = [dead.task()[1] for _ in range(200)]
    healthy = Desk(services, "http://app.test/assign")
    sender = assignment_sender(services, receivers, timeout_s=60.0)

    async def scenario() -> str:
        await sender.start()
        try:
            await until("the dead URL's share", lambda: receivers.hosts().count("never.test") > 0)
            _, reservation = healthy.task()
            sender.wake()
            await until("the healthy callback", lambda: healthy.status(reservation) != "pending")
            states = {dead.outbox(r)[0] for r in dead_offers}
            assert states == {"pending"}  # the dead URL's callbacks are all still waiting
            assert receivers.hosts().count("never.test") <= sender.poster.per_destination
            return reservation
        finally:
            await sender.stop()

    reservation = asyncio.run(scenario())
    assert healthy.status(reservation) == "accepted"
    assert all(dead.status(r) == "pending" for r in dead_offers)


def test_dead_event_streams_do_not_hold_up_a_healthy_one(
    services: Services, receivers: Receivers
) -> None:
    engine = services.engine
    dead = [
        engine.workspaces.create_workspace(
            ACCOUNT_SID, friendly_name=f"Dead {n}", event_callback_url="http://never.test/e"
        ).sid
        for n in range(12)
    ]
    poster = Poster(transport=receivers.transport(), per_destination=2, queue_per_destination=2)
    # No commit wakes this sender: every stream, the healthy one too, is found by the scan,
    # which must not be filled up with the dead streams put off for their destination.
    sender = EventSender(
        services.store, services.clock, timeout_s=60.0, max_streams=6, poll_s=0.05,
        poster=poster,
    )  # fmt: skip

    async def scenario() -> None:
        await sender.start()
        try:
            await until("the dead URL's share", lambda: receivers.hosts().count("never.test") == 2)
            healthy = engine.workspaces.create_workspace(
                ACCOUNT_SID, friendly_name="Healthy", event_callback_url="http://app.test/e"
            ).sid
            await until("the healthy stream", lambda: delivered(services, healthy) == 1)
            assert all(delivered(services, ws) == 0 for ws in dead)
            assert receivers.hosts().count("never.test") == 2
        finally:
            await sender.stop()

    asyncio.run(scenario())


# -- redirects -----------------------------------------------------------------------------------


def test_an_assignment_redirect_is_not_followed_and_the_fallback_is_used(
    services: Services, receivers: Receivers
) -> None:
    desk = Desk(services, "http://redirect.test/assign", "http://app.test/fallback")
    _, reservation = desk.task()
    run_once(assignment_sender(services, receivers))
    assert [(h, f["ReservationSid"]) for h, f in receivers.seen] == [
        ("redirect.test", reservation), ("app.test", reservation)
    ]  # fmt: skip
    assert desk.status(reservation) == "accepted"


def test_an_assignment_redirect_alone_is_a_recorded_failure(
    services: Services, receivers: Receivers
) -> None:
    desk = Desk(services, "http://redirect.test/assign")
    _, reservation = desk.task()
    run_once(assignment_sender(services, receivers))
    state, _, error = desk.outbox(reservation)
    assert state == "failed" and error is not None
    assert "answered HTTP 302 (redirects are not followed)" in error
    assert receivers.hosts() == ["redirect.test"]


def test_an_event_the_receiver_never_takes_is_skipped_after_its_attempts_and_recorded(
    services: Services, receivers: Receivers
) -> None:
    """A receiver that redirects one event forever: that event is tried `max_attempts` times,
    then skipped and recorded in /EventDelivery, and the stream goes on behind it."""
    engine = services.engine
    ws = engine.workspaces.create_workspace(
        ACCOUNT_SID, friendly_name="Picky", event_callback_url="http://app.test/events"
    ).sid
    first = services.store.events.after(ws, (0, -1), 10)[0]
    receivers.redirect_sids.add(first.sid)
    engine.activities.create_activity(ws, friendly_name="Break", available=False)
    sender = EventSender(
        services.store, services.clock, max_attempts=3, backoff_base_s=0.001,
        backoff_cap_s=0.001, poster=Poster(transport=receivers.transport()),
    )  # fmt: skip

    async def scenario() -> None:
        await sender.start()
        try:
            await until("the event behind it", lambda: delivered(services, ws) == 1)
        finally:
            await sender.stop()

    asyncio.run(scenario())
    sent = [(f["Sid"], f["EventType"]) for _, f in receivers.seen]
    assert sent == [(first.sid, "workspace.created")] * 3 + [sent[-1]]
    assert sent[-1][1] == "activity.created"
    app = create_app(services.settings, services=services)
    with TestClient(app, base_url="http://testserver") as http:
        http.auth = (ACCOUNT_SID, AUTH_TOKEN)
        body = http.get(f"/switchboard/v1/Workspaces/{ws}/EventDelivery").json()
    assert body["skipped"] == 1 and body["delivered"] == 1 and body["backlog"] == 0
    assert body["last_skipped"].startswith(f"{first.sid} (workspace.created) after 3 attempts")
    assert "HTTP 302 (redirects are not followed)" in body["last_skipped"]
    assert body["attempts"] == 0 and body["last_error"] is None
