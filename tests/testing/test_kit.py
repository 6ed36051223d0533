"""The `taskrouter` fixture: a fresh Switchboard per test, the SDK in process, time control
and the workspace builder."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import pytest
from twilio.base.exceptions import TwilioRestException

from switchboard.testing import ClockError, TaskRouter, TaskRouterTestError

SUPPORT = {
    "queues": {"english": "languages HAS 'en'", "spanish": "languages HAS 'es'"},
    "workers": {"alice": {"languages": ["en"]}, "bruno": {"languages": ["es"]}},
    "workflow": {"spanish": "language == 'es'"},
    "task_reservation_timeout": 120,
}


def test_each_test_starts_empty_at_the_same_moment(taskrouter: TaskRouter) -> None:
    assert taskrouter.client.taskrouter.v1.workspaces.list() == []
    assert taskrouter.now == datetime(2026, 1, 1, tzinfo=UTC)
    taskrouter.workspace({"name": "left behind"})


def test_and_the_next_one_too(taskrouter: TaskRouter) -> None:
    assert taskrouter.client.taskrouter.v1.workspaces.list() == []


def test_the_client_is_the_sdk_on_twilios_own_host(taskrouter: TaskRouter) -> None:
    created = taskrouter.client.taskrouter.v1.workspaces.create(friendly_name="Desk")
    assert created.url == f"https://taskrouter.twilio.com/v1/Workspaces/{created.sid}"
    assert created.account_sid == taskrouter.account_sid
    with pytest.raises(TwilioRestException) as caught:
        taskrouter.client.taskrouter.v1.workspaces("WS" + "0" * 32).fetch()
    assert caught.value.status == 404 and caught.value.code == 20404


def test_the_builder_makes_a_workspace_that_routes(taskrouter: TaskRouter) -> None:
    ws = taskrouter.workspace(SUPPORT)
    assert set(ws.queues) == {"english", "spanish"}
    assert set(ws.workers) == {"alice", "bruno"}
    assert {"Offline", "Available", "Unavailable"} <= set(ws.activities)
    spanish = ws.create_task({"language": "es"})
    english = ws.create_task({"language": "en"})  # the default filter: the first queue
    assert [r.worker_sid for r in ws.reservations(spanish)] == [ws.workers["bruno"]]
    assert [r.worker_sid for r in ws.reservations(english)] == [ws.workers["alice"]]


def test_a_full_configuration_is_taken_as_it_is(taskrouter: TaskRouter) -> None:
    routing = {
        "filters": [
            {"expression": "vip == true", "targets": [{"queue": "gold", "priority": 10}]},
        ],
        "default_filter": {"queue": "plain"},
    }
    ws = taskrouter.workspace(
        {
            "queues": {"plain": "tier == 'plain'", "gold": "tier == 'gold'"},
            "workers": {"pat": {"tier": "plain"}, "gil": {"tier": "gold"}},
            "workflow": {"task_routing": routing},
        }
    )
    vip = ws.create_task({"vip": True})
    assert ws.api.tasks(vip.sid).fetch().priority == 10
    assert ws.reservations(vip)[0].worker_sid == ws.workers["gil"]
    assert ws.reservations(ws.create_task({}))[0].worker_sid == ws.workers["pat"]


def test_a_misspelt_key_is_named(taskrouter: TaskRouter) -> None:
    with pytest.raises(TypeError, match="workspace"):
        taskrouter.workspace({"queus": {"all": "1 == 1"}})


def test_advance_runs_a_reservation_timeout(taskrouter: TaskRouter) -> None:
    ws = taskrouter.workspace(SUPPORT)
    task = ws.create_task({"language": "es"})
    taskrouter.advance(119)
    assert ws.reservations(task)[0].reservation_status == "pending"
    taskrouter.advance(1)
    assert ws.reservations(task)[0].reservation_status == "timeout"
    timeout = taskrouter.events("reservation.timeout")[0]
    assert timeout.event_date == datetime(2026, 1, 1, 0, 2, tzinfo=UTC)


def test_advance_runs_every_deadline_it_passes_in_order(taskrouter: TaskRouter) -> None:
    ws = taskrouter.workspace(SUPPORT)
    task = ws.create_task({"language": "es"}, timeout=3600)
    taskrouter.advance(2 * 86_400)
    assert ws.api.tasks(task.sid).fetch().assignment_status == "canceled"
    kept = [
        (e.event_type, e.event_date)
        for e in taskrouter.events()
        if e.event_type in {"reservation.timeout", "task.canceled"}
    ]
    assert kept == [
        ("reservation.timeout", datetime(2026, 1, 1, 0, 2, tzinfo=UTC)),
        ("task.canceled", datetime(2026, 1, 1, 1, 0, tzinfo=UTC)),
    ]
    assert taskrouter.now == datetime(2026, 1, 3, tzinfo=UTC)


def test_set_time_takes_a_moment(taskrouter: TaskRouter) -> None:
    assert taskrouter.set_time("2026-03-01T12:00:00Z") == datetime(2026, 3, 1, 12, tzinfo=UTC)
    with pytest.raises(ClockError, match="never moves backwards"):
        taskrouter.set_time(datetime(2026, 1, 1))
    with pytest.raises(ClockError, match="never moves backwards"):
        taskrouter.advance(-1)


def test_a_system_clock_cannot_be_advanced() -> None:
    with TaskRouter(clock="system") as kit, pytest.raises(ClockError, match="system clock"):
        kit.advance(10)


def test_events_need_a_workspace(taskrouter: TaskRouter) -> None:
    with pytest.raises(TaskRouterTestError, match="no workspace"):
        taskrouter.events()


def test_another_account_sees_nothing_of_the_first(taskrouter: TaskRouter) -> None:
    ws = taskrouter.workspace({"name": "mine"})
    other = taskrouter.client_for("AC" + "9" * 32, "other-token")
    assert other.taskrouter.v1.workspaces.list() == []
    with pytest.raises(TwilioRestException) as caught:
        other.taskrouter.v1.workspaces(ws.sid).fetch()
    assert caught.value.status == 404


def test_the_kit_serves_calls_from_async_code(taskrouter: TaskRouter) -> None:
    """A synchronous client called inside a running event loop (an async test or app) is
    served: the kit's loop is its own."""

    async def inside_a_loop() -> str:
        return str(taskrouter.client.taskrouter.v1.workspaces.create(friendly_name="a").sid)

    assert asyncio.run(inside_a_loop()).startswith("WS")


def test_a_closed_kit_says_so() -> None:
    kit = TaskRouter()
    kit.close()
    with pytest.raises(TaskRouterTestError, match="closed"):
        kit.client.taskrouter.v1.workspaces.list()


def test_threads_may_call_at_once(taskrouter: TaskRouter) -> None:
    """Requests from several threads are each answered (none is left waiting when the
    thread running the loop stops)."""
    ws = taskrouter.workspace({"queues": {"all": "1 == 1"}})
    made: list[str] = []

    def create_some() -> None:
        for _ in range(20):
            made.append(ws.create_task({}).sid)

    threads = [threading.Thread(target=create_some) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(set(made)) == 80
    assert len(ws.api.tasks.list()) == 80


def test_the_async_client_works_in_process(taskrouter: TaskRouter) -> None:
    async def create() -> str:
        api = taskrouter.async_client.taskrouter.v1.workspaces
        made = await api.create_async(friendly_name="async")
        return str((await api(made.sid).fetch_async()).friendly_name)

    assert asyncio.run(create()) == "async"
