"""The manual clock over a real socket: a `switchboard --clock manual` server whose time moves
only through POST /switchboard/clock, so a 120 s reservation timeout and a 24 h task TTL pass in
milliseconds, each processed before the clock call answers."""

from __future__ import annotations

import json
from typing import Any

import httpx
from twilio.rest import Client

from tests.support import ACCOUNT_SID, AUTH_TOKEN, START_MS, RunningServer


def advance(server: RunningServer, seconds: int) -> dict[str, Any]:
    r = httpx.post(
        f"{server.url}/switchboard/clock",
        data={"AdvanceSeconds": str(seconds)},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_time_passes_only_through_the_clock_api(
    live_server: RunningServer, live_client: Client
) -> None:
    clock = httpx.get(f"{live_server.url}/switchboard/clock", auth=(ACCOUNT_SID, AUTH_TOKEN))
    assert clock.json()["kind"] == "manual" and clock.json()["now_ms"] == START_MS

    ws = live_client.taskrouter.v1.workspaces.create(friendly_name="Clocked")
    tr = live_client.taskrouter.v1.workspaces(ws.sid)
    available = tr.activities.list(friendly_name="Available")[0]
    queue = tr.task_queues.create(friendly_name="All")
    tr.workflows.create(
        friendly_name="All",
        configuration=json.dumps({"task_routing": {"default_filter": {"queue": queue.sid}}}),
    )
    alice = tr.workers.create(friendly_name="alice", activity_sid=available.sid)
    task = tr.tasks.create(attributes="{}", timeout=86_400)
    assert task.assignment_status == "reserved"
    reservation = tr.tasks(task.sid).reservations.list()[0]
    assert reservation.worker_sid == alice.sid

    # 119 s: nothing is due yet. 121 s: the reservation has timed out, the worker is Offline.
    assert advance(live_server, 119)["processed"] == 0
    assert tr.tasks(task.sid).reservations(reservation.sid).fetch().reservation_status == "pending"
    assert advance(live_server, 2)["processed"] >= 1
    assert tr.tasks(task.sid).reservations(reservation.sid).fetch().reservation_status == "timeout"
    assert tr.workers(alice.sid).fetch().activity_name == "Offline"
    assert tr.tasks(task.sid).fetch().assignment_status == "pending"

    # A day later the task's TTL has passed: canceled, stamped at its deadline.
    advance(live_server, 86_400)
    expired = tr.tasks(task.sid).fetch()
    assert expired.assignment_status == "canceled"
    assert expired.reason == "Task TTL Exceeded"
    canceled = [e for e in tr.events.list(event_type="task.canceled", minutes=2000)]
    assert [e.resource_sid for e in canceled] == [task.sid]
    assert canceled[0].event_date_ms == START_MS + 86_400 * 1000


def test_the_clock_never_moves_backwards(live_server: RunningServer) -> None:
    r = httpx.post(
        f"{live_server.url}/switchboard/clock",
        data={"SetMs": str(START_MS - 1)},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
    )
    assert r.status_code == 400
    assert set(r.json()) == {"code", "message", "more_info", "status"}
