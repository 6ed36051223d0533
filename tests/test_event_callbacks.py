"""Event callbacks against a real HTTP receiver on 127.0.0.1 that fails, stalls and recovers:
every event arrives, in commit order, signed; EventsFilter holds; a restart resumes from the
stored cursor; one process at a time holds a stream; old events are pruned.

Every wait is bounded by a deadline; the sender's timeout and backoff are shrunk so the
failures pass in milliseconds."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from switchboard.api.context import Services
from switchboard.app import create_app
from switchboard.models import Event
from switchboard.outbound.event_callbacks import EventSender, backoff_seconds, event_form, pascal
from switchboard.storage import Store
from switchboard.timers import ManualClock
from tests.support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    POSTGRES_URL,
    InProcessHttpClient,
    Receiver,
    Reply,
    eventually,
    eventually_async,
    make_services,
    sdk_client,
    serve,
)

TIMEOUT_S = 0.2  # the sender's HTTP timeout
STALL_S = 1.0  # how long a stalled receiver sits on a request: past the timeout

OK = Reply(204)
FAIL = Reply(500)
STALL = Reply(204, late_s=STALL_S)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver whose every path takes events; a test switches its answer with `default`."""
    yield from serve(Receiver(default=OK))


def events_url(receiver: Receiver) -> str:
    return receiver.url("/events?source=test")


def fast_sender(services: Services, **overrides: Any) -> EventSender:
    """A sender with a short timeout and backoff. It never polls: every delivery here must
    come from a commit's wake-up, a retry falling due or the scan at start."""
    options: dict[str, Any] = {
        "timeout_s": TIMEOUT_S, "backoff_base_s": 0.02, "backoff_cap_s": 0.1, "poll_s": 60.0,
    }  # fmt: skip
    options.update(overrides)
    return EventSender(services.store, services.clock, **options)


@pytest.fixture
def app(services: Services) -> Any:
    """The app, with a sender whose timeout and backoff suit a test."""
    app = create_app(services.settings, services=services)
    app.state.event_sender = fast_sender(services)
    return app


def delivery(http: TestClient, ws: str) -> dict[str, Any]:
    response = http.get(f"/switchboard/v1/Workspaces/{ws}/EventDelivery")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def commit_order(store: Store, ws: str) -> list[Event]:
    return store.events.after(ws, (0, -1), 10_000)


def drained(http: TestClient, ws: str) -> Callable[[], bool]:
    return lambda: delivery(http, ws)["backlog"] == 0


def make_activity_events(client: Client, ws: str, n: int, prefix: str = "Activity") -> None:
    for i in range(n):
        client.taskrouter.v1.workspaces(ws).activities.create(friendly_name=f"{prefix} {i}")


@pytest.mark.slow  # its receiver fails and stalls past real timeouts and backoffs
def test_every_event_arrives_in_order_through_failures_and_stalls(
    client: Client, http: TestClient, services: Services, receiver: Receiver
) -> None:
    receiver.default = FAIL
    ws = client.taskrouter.v1.workspaces.create(
        friendly_name="Busy", event_callback_url=events_url(receiver)
    ).sid
    make_activity_events(client, ws, 8)
    receiver.wait("3 failures", lambda _: receiver.count(FAIL) >= 3)
    status = delivery(http, ws)
    assert status["attempts"] >= 1 and "HTTP 500" in status["last_error"]
    assert status["backlog"] == 9 and status["url"] == events_url(receiver)
    receiver.default = STALL
    receiver.wait("2 stalls", lambda _: receiver.count(STALL) >= 2)
    assert "did not answer within" in delivery(http, ws)["last_error"]
    receiver.default = OK
    client.taskrouter.v1.workspaces(ws).update(friendly_name="Busier")
    eventually(drained(http, ws), what="delivery of every event")

    expected = [e.sid for e in commit_order(services.store, ws)]
    assert len(expected) == 10
    position = {sid: i for i, sid in enumerate(expected)}
    sent = [position[r.form["Sid"]] for r in receiver.seen]
    # Never ahead of an unacknowledged event: each request repeats one or takes the next.
    assert sent[0] == 0 and all(0 <= b - a <= 1 for a, b in itertools.pairwise(sent))
    acknowledged = [position[r.form["Sid"]] for r in receiver.seen if r.reply == OK]
    assert sorted(set(acknowledged)) == list(range(10))
    # A duplicate only ever follows a request the receiver did not answer in time.
    troubled = {position[r.form["Sid"]] for r in receiver.seen if r.reply != OK}
    assert {i for i in acknowledged if acknowledged.count(i) > 1} <= troubled
    status = delivery(http, ws)
    assert status["attempts"] == 0 and status["last_error"] is None
    assert status["delivered"] == 10 and status["next_attempt"] is None


def test_the_callback_is_signed_and_carries_twilios_fields(
    client: Client, http: TestClient, services: Services, receiver: Receiver
) -> None:
    ws = client.taskrouter.v1.workspaces.create(
        friendly_name="Signed", event_callback_url=events_url(receiver)
    ).sid
    activity = client.taskrouter.v1.workspaces(ws).activities.create(
        friendly_name="Break", available=True
    )
    eventually(drained(http, ws), what="delivery")
    validator = RequestValidator(AUTH_TOKEN)
    for r in receiver.seen:
        assert validator.validate(events_url(receiver), r.form, r.signature), r.form
    created = next(r.form for r in receiver.seen if r.form["EventType"] == "activity.created")
    event = services.store.events.get(ws, created["Sid"])
    assert event is not None
    assert created == {
        "EventType": "activity.created", "AccountSid": ACCOUNT_SID, "WorkspaceSid": ws,
        "WorkspaceName": "Signed", "EventDescription": "Activity Break created",
        "ResourceType": "activity", "ResourceSid": activity.sid,
        "Timestamp": str(event.event_date // 1000), "TimestampMs": str(event.event_date),
        "Sid": event.sid, "ActivitySid": activity.sid, "ActivityName": "Break",
        "ActivityAvailable": "true",
    }  # fmt: skip
    assert not validator.validate(events_url(receiver), created, "forged")


def test_events_filter_decides_what_is_sent(
    client: Client, http: TestClient, services: Services, receiver: Receiver
) -> None:
    ws = client.taskrouter.v1.workspaces.create(
        friendly_name="Picky",
        event_callback_url=events_url(receiver),
        events_filter="activity.created,activity.deleted",
    ).sid
    api = client.taskrouter.v1.workspaces(ws)
    first = api.activities.create(friendly_name="One")
    api.activities(first.sid).update(friendly_name="Uno")
    api.task_channels.create(friendly_name="Email", unique_name="email")
    api.activities(first.sid).delete()
    api.activities.create(friendly_name="Two")
    eventually(drained(http, ws), what="delivery")
    sent = [(r.form["EventType"], r.form.get("ActivityName")) for r in receiver.seen]
    assert sent == [
        ("activity.created", "One"), ("activity.deleted", "Uno"), ("activity.created", "Two")
    ]  # fmt: skip
    # Passed-over events move the cursor too: nothing is left to send.
    last = commit_order(services.store, ws)[-1]
    cursor = {"seq": last.seq, "ordinal": last.ordinal}
    eventually(
        lambda: delivery(http, ws)["cursor"] == cursor, what="the cursor to pass every event"
    )


def test_only_events_after_the_url_is_set_are_sent(
    client: Client, http: TestClient, receiver: Receiver
) -> None:
    api = client.taskrouter.v1.workspaces.create(friendly_name="Late")
    ws = api.sid
    make_activity_events(client, ws, 3)
    assert delivery(http, ws)["url"] is None
    client.taskrouter.v1.workspaces(ws).update(event_callback_url=events_url(receiver))
    client.taskrouter.v1.workspaces(ws).activities.create(friendly_name="After")
    eventually(drained(http, ws), what="delivery")
    assert [r.form["EventType"] for r in receiver.seen] == [
        "workspace.updated", "activity.created"
    ]  # fmt: skip
    assert receiver.seen[1].form["ActivityName"] == "After"


def test_a_deleted_workspace_sends_workspace_deleted_then_forgets_its_stream(
    client: Client, services: Services, receiver: Receiver
) -> None:
    ws = client.taskrouter.v1.workspaces.create(
        friendly_name="Doomed", event_callback_url=events_url(receiver)
    ).sid
    # Deleting drops the event log with the workspace (docs/decisions.md), so an event not yet
    # sent is gone with it: wait for the first one before deleting.
    receiver.wait(
        "workspace.created",
        lambda rs: any(r.form["EventType"] == "workspace.created" for r in rs),
    )
    client.taskrouter.v1.workspaces(ws).delete()
    receiver.wait(
        "workspace.deleted",
        lambda rs: any(r.form["EventType"] == "workspace.deleted" for r in rs),
    )
    eventually(
        lambda: services.store.event_streams.get(ws) is None, what="the stream to be dropped"
    )
    assert commit_order(services.store, ws) == []
    assert [r.form["EventType"] for r in receiver.seen] == [
        "workspace.created", "workspace.deleted"
    ]  # fmt: skip
    assert receiver.seen[-1].form["WorkspaceName"] == "Doomed"


def test_a_restart_resumes_from_the_stored_cursor(tmp_path: Path, receiver: Receiver) -> None:
    def start() -> tuple[Services, Any]:
        services = make_services(tmp_path)
        app = create_app(services.settings, services=services)
        app.state.event_sender = fast_sender(services)
        return services, app

    services, app = start()
    with TestClient(app, base_url="http://testserver") as http:
        http.auth = (ACCOUNT_SID, AUTH_TOKEN)
        client = sdk_client(InProcessHttpClient(app), "http://testserver")
        ws = client.taskrouter.v1.workspaces.create(
            friendly_name="Durable", event_callback_url=events_url(receiver)
        ).sid
        make_activity_events(client, ws, 2)
        eventually(drained(http, ws), what="the first delivery")
        receiver.default = FAIL
        make_activity_events(client, ws, 3, "Later")
        receiver.wait("a failure", lambda _: receiver.count(FAIL) >= 1)
    services.store.close()
    before = len(receiver.seen)
    delivered_first = [r.form["Sid"] for r in receiver.seen if r.reply == OK]
    assert len(delivered_first) == 3

    receiver.default = OK
    services, app = start()
    with TestClient(app, base_url="http://testserver") as http:
        http.auth = (ACCOUNT_SID, AUTH_TOKEN)
        eventually(drained(http, ws), what="delivery after the restart")
        after = [r.form["Sid"] for r in receiver.seen[before:]]
        order = [e.sid for e in commit_order(services.store, ws)]
    services.store.close()
    assert delivered_first == order[:3]
    assert after == order[3:]  # resumed at the first unacknowledged event, nothing resent


@pytest.mark.slow  # two senders poll on real time
def test_two_senders_share_the_streams_without_duplicates(
    services: Services, receiver: Receiver
) -> None:
    """Two senders on one database (as two processes would be): each stream has one owner
    at a time, so every event is sent once, in order."""
    engine = services.engine

    async def scenario() -> list[str]:
        senders = [fast_sender(services, poll_s=0.05) for _ in range(2)]
        for sender in senders:
            await sender.start()
            engine.commit_listeners.append(sender.on_commit)
        workspaces = []
        for n in range(4):
            ws = engine.workspaces.create_workspace(
                ACCOUNT_SID, friendly_name=f"Shared {n}", event_callback_url=events_url(receiver)
            )
            workspaces.append(ws.sid)
            for i in range(5):
                engine.activities.create_activity(ws.sid, friendly_name=f"A{i}", available=False)
        await eventually_async(lambda: len(receiver.seen) >= 24, what="every event sent")
        for sender in senders:
            engine.commit_listeners.remove(sender.on_commit)
            await sender.stop()
        return workspaces

    workspaces = asyncio.run(scenario())
    for ws in workspaces:
        mine = [r.form["Sid"] for r in receiver.seen if r.form["WorkspaceSid"] == ws]
        assert mine == [e.sid for e in commit_order(services.store, ws)]


def test_a_lease_keeps_other_processes_off_a_stream(pg_schema: str) -> None:
    """On PostgreSQL, from two connections (two processes): one claim wins until its lease
    ends or is given back."""
    first = Store.open(POSTGRES_URL, schema=pg_schema)
    second = Store.open(POSTGRES_URL, schema=pg_schema)
    try:
        with first.write(None):
            first.event_streams.track("WS" + "a" * 32, ACCOUNT_SID, "http://x.test/", None, 1)
        sid = "WS" + "a" * 32
        assert first.event_streams.claim(sid, "one", 1_000, 500)
        assert not second.event_streams.claim(sid, "two", 1_200, 500)
        assert first.event_streams.claim(sid, "one", 1_200, 500)  # renewed by its owner
        assert second.event_streams.claim(sid, "two", 1_700, 500)  # the lease ran out
        assert not first.event_streams.advance(sid, "one", (1, 0), delivered=1, now=1_700)
        second.event_streams.release(sid, "two")
        assert first.event_streams.claim(sid, "one", 1_701, 500)
    finally:
        first.close()
        second.close()


@pytest.mark.slow  # the pruning runs on a real-time period
def test_events_past_the_retention_are_pruned_by_the_sender_loop(tmp_path: Path) -> None:
    services = make_services(tmp_path, event_retention_days=1)
    app = create_app(services.settings, services=services)
    app.state.event_sender = fast_sender(services, prune_every_s=0.05, retention_days=1)
    with TestClient(app, base_url="http://testserver"):
        client = sdk_client(InProcessHttpClient(app), "http://testserver")
        ws = client.taskrouter.v1.workspaces.create(friendly_name="Forgetful").sid
        make_activity_events(client, ws, 2)
        clock = services.clock
        assert isinstance(clock, ManualClock)
        clock.advance_ms(86_400_000 + 1)
        client.taskrouter.v1.workspaces(ws).activities.create(friendly_name="Fresh")
        eventually(lambda: len(commit_order(services.store, ws)) == 1, what="pruning")
        assert commit_order(services.store, ws)[0].event_type == "activity.created"
    services.store.close()


def test_backoff_doubles_to_its_cap_with_jitter() -> None:
    for attempts, full in ((1, 0.5), (2, 1.0), (3, 2.0), (8, 60.0), (50, 60.0)):
        delay = backoff_seconds(attempts, 0.5, 60.0)
        assert full / 2 <= delay <= full


def test_form_fields_are_pascal_case_and_skip_nulls() -> None:
    assert pascal("worker_time_in_previous_activity_ms") == "WorkerTimeInPreviousActivityMs"
    event = Event(
        "EV" + "1" * 32, "WS" + "1" * 32, ACCOUNT_SID, 3, 0, "task.canceled", 1_500,
        "task", "WT" + "1" * 32, None, None, "Task canceled",
        '{"workspace_name":"W","task_canceled_reason":"hangup","task_completed_reason":null,'
        '"task_priority":"5"}',
    )  # fmt: skip
    form = event_form(event)
    assert form["TaskCanceledReason"] == "hangup" and "TaskCompletedReason" not in form
    assert (form["Timestamp"], form["TimestampMs"], form["TaskPriority"]) == ("1", "1500", "5")
