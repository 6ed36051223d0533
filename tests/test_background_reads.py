"""The background loops wait on the database off the event loop: on PostgreSQL an idle
server's tick loop, assignment callback sender and event callback sender make no database
call on the loop's thread (each would hold every request for a round trip), and with their
looks moved there, a callback is still claimed and delivered and a deadline still fires, on
both databases."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.testclient import TestClient

from switchboard.api.context import Services
from switchboard.app import create_app
from switchboard.outbound import EventSender
from switchboard.storage.leader import AdvisoryLeader
from tests.support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    Backend,
    InProcessHttpClient,
    RunningServer,
    eventually,
    make_services,
    sdk_client,
)

# Passes each loop makes while the test watches.
PASSES = 3
LOOPS = ("tick", "assignment callbacks", "event callbacks")


class Passes:
    """Counts each loop's passes by a read each pass makes, wrapped in place."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.counts: Counter[str] = Counter()

    def count(self, loop: str, owner: object, read: str) -> None:
        real: Callable[..., Any] = getattr(owner, read)

        def counted(*args: Any) -> Any:
            self.counts[loop] += 1
            return real(*args)

        self.monkeypatch.setattr(owner, read, counted)


@pytest.mark.slow
def test_idle_loops_make_no_database_call_on_the_event_loop(
    tmp_path: Path, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The leader's check runs on a connection of its own, outside the Store's observer.
    leader_checks: list[int] = []
    check = AdvisoryLeader.acquire

    def acquire(self: AdvisoryLeader) -> bool:
        leader_checks.append(threading.get_ident())
        return check(self)

    monkeypatch.setattr(AdvisoryLeader, "acquire", acquire)
    # Presence renews this process's row with a write, which stays on the loop: once an hour
    # here (every third of the lapse), so only its first pass, before the watch, writes.
    services = make_services(
        tmp_path, "postgres", pg_schema, clock="system", presence_lapse_seconds=3 * 3600
    )
    store, passes = services.store, Passes(monkeypatch)
    passes.count("tick", services.engine.deadlines, "next_deadline")
    passes.count("assignment callbacks", store.assignment_callbacks, "any_due")
    passes.count("event callbacks", store.event_streams, "next_attempt")
    app = create_app(services.settings, services=services)
    # Its default two seconds between looks would make the watch long.
    app.state.event_sender = EventSender(store, services.clock, poll_s=0.05)
    database_threads: list[int] = []
    with RunningServer(app) as server:
        loop_thread = server.thread.ident  # uvicorn runs the event loop in the server's thread
        ticker, realtime = app.state.tick_loop, app.state.realtime
        # Start-up's work is done (the indexes built, presence's row written, the event
        # sender's first pruning) once each loop has made a pass, the tick loop as leader.
        loops = (ticker.loop, app.state.event_sender.loop, realtime.presence.loop)
        eventually(
            lambda: ticker.is_leader and all(loop.status().last_pass for loop in loops),
            what="the loops' first passes",
        )
        first_check = len(leader_checks)
        before = passes.counts.copy()
        store.observe_database(lambda seconds: database_threads.append(threading.get_ident()))
        eventually(
            lambda: (
                all(passes.counts[name] - before[name] >= PASSES for name in LOOPS)
                and len(leader_checks) - first_check >= PASSES
            ),
            what=f"{PASSES} passes of each loop",
        )
        store.observe_database(None)
        assert ticker.is_leader  # the looks counted were a leader's: no other reads deadlines
        assert len(database_threads) >= 3 * PASSES  # the looks reached the database ...
        assert loop_thread not in database_threads  # ... each from another thread
        assert loop_thread not in leader_checks[first_check:]

        # The watch sees the loop's thread where a call is made on it: a request's.
        store.observe_database(lambda seconds: database_threads.append(threading.get_ident()))
        database_threads.clear()
        answer = httpx.get(f"{server.url}/v1/Workspaces", auth=(ACCOUNT_SID, AUTH_TOKEN))
        store.observe_database(None)
        assert answer.status_code == 200 and loop_thread in database_threads


@pytest.fixture(params=["sqlite", "postgres"])
def ticking(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    """Services whose app runs the tick loop; the engine's clock stays the manual one, which
    the test moves."""
    backend: Backend = request.param
    schema = request.getfixturevalue("pg_schema") if backend == "postgres" else None
    services = make_services(tmp_path, backend, schema, clock="system")
    yield services
    services.store.close()


def receiving(seen: list[dict[str, str]]) -> httpx.MockTransport:
    """A receiver in process: accepts the offers of tasks whose attributes say so, and
    decides later on the others."""

    def handle(request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        seen.append(form)
        if json.loads(form["TaskAttributes"]).get("accept"):
            return httpx.Response(200, json={"instruction": "accept"})
        return httpx.Response(200, json={})

    return httpx.MockTransport(handle)


@pytest.mark.slow
def test_the_loops_still_deliver_callbacks_and_fire_deadlines(ticking: Services) -> None:
    seen: list[dict[str, str]] = []
    app = create_app(ticking.settings, services=ticking, callback_transport=receiving(seen))
    with TestClient(app, base_url="http://testserver"):
        tr = sdk_client(InProcessHttpClient(app), "http://testserver").taskrouter.v1
        ws = tr.workspaces.create(friendly_name="Loops").sid
        desk = tr.workspaces(ws)
        available = next(a for a in desk.activities.list() if a.friendly_name == "Available")
        for n in range(2):
            desk.workers.create(friendly_name=f"w{n}", activity_sid=available.sid)
        queue = desk.task_queues.create(friendly_name="All", target_workers="1 == 1").sid
        routing = {"task_routing": {"filters": [], "default_filter": {"queue": queue}}}
        flow = desk.workflows.create(
            friendly_name="Flow", configuration=json.dumps(routing),
            assignment_callback_url="http://app.test/assign",
        ).sid  # fmt: skip

        accepted = desk.tasks.create(attributes='{"accept": true}', workflow_sid=flow).sid
        eventually(
            lambda: desk.tasks(accepted).fetch().assignment_status == "assigned",
            what="the callback's accept",
        )
        waiting = desk.tasks.create(attributes="{}", workflow_sid=flow).sid
        (offer,) = desk.tasks(waiting).reservations.list()
        eventually(lambda: len(seen) == 2, what="the second task's callback")
        assert [form["TaskSid"] for form in seen] == [accepted, waiting]

        # The offer's timeout (120 s) falls due on the engine's clock; the loop looks at once.
        ticking.clock.advance_ms(121_000)  # type: ignore[attr-defined]
        app.state.tick_loop.wake()
        eventually(
            lambda: (
                desk.tasks(waiting).reservations(offer.sid).fetch().reservation_status == "timeout"
            ),
            what="the offer's timeout",
        )
