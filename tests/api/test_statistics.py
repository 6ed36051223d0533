"""Statistics resources through the official SDK and raw HTTP: every resource's exact fields,
routes beside `{Sid}` routes, windows and their defaults, parameter errors (a 400 or 404 that
names the problem, never a 500), the bulk queue request, the queue list and its pages.

The figures themselves, over a scripted day, are checked in tests/test_statistics_day.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.rest import Client

from switchboard.api.context import Services
from tests.support import ACCOUNT_SID, START_MS, Body, rest_error

RESERVATIONS = {
    "reservations_created", "reservations_accepted", "reservations_rejected",
    "reservations_timed_out", "reservations_canceled", "reservations_rescinded",
}  # fmt: skip
WAITS = {"wait_duration_until_accepted", "wait_duration_until_canceled"}
CUMULATIVE = {
    *RESERVATIONS, *WAITS, "avg_task_acceptance_time", "start_time", "end_time",
    "split_by_wait_time", "tasks_canceled", "tasks_completed", "tasks_deleted", "tasks_moved",
}  # fmt: skip
WORKSPACE_CUMULATIVE = CUMULATIVE | {"tasks_created", "tasks_timed_out_in_workflow"}
QUEUE_CUMULATIVE = CUMULATIVE | {"tasks_entered", "wait_duration_in_queue_until_accepted"}
WORKFLOW_CUMULATIVE = CUMULATIVE | {"tasks_entered", "tasks_timed_out_in_workflow"}
WORKERS_CUMULATIVE = RESERVATIONS | {"activity_durations", "start_time", "end_time"}
TASKS_REAL_TIME = {
    "longest_task_waiting_age", "longest_task_waiting_sid", "tasks_by_priority",
    "tasks_by_status", "total_tasks",
}  # fmt: skip
WORKSPACE_REAL_TIME = TASKS_REAL_TIME | {"activity_statistics", "total_workers"}
QUEUE_REAL_TIME = TASKS_REAL_TIME | {
    "activity_statistics", "longest_relative_task_age_in_queue",
    "longest_relative_task_sid_in_queue", "total_available_workers", "total_eligible_workers",
}  # fmt: skip
WORKERS_REAL_TIME = {"activity_statistics", "total_workers"}
BULK_ITEM = {
    "task_queue_sid", "longest_task_waiting_age", "longest_task_waiting_sid", "total_tasks",
    "total_eligible_workers", "total_available_workers", "tasks_by_status",
    "tasks_by_priority", "activity_statistics",
}  # fmt: skip
ENVELOPE = {"account_sid", "workspace_sid", "url"}
ZERO = {"avg": 0, "min": 0, "max": 0, "total": 0}


class Desk:
    def __init__(self, client: Client, services: Services, workspace: Any) -> None:
        self.services = services
        self.sid: str = workspace.sid
        self.ws = client.taskrouter.v1.workspaces(workspace.sid)
        self.activities = {a.friendly_name: a.sid for a in self.ws.activities.list()}
        self.queue: str = self.ws.task_queues.create(
            friendly_name="Support", target_workers="skill == 'support'"
        ).sid
        self.workflow: str = self.ws.workflows.create(
            friendly_name="Flow",
            configuration=json.dumps(
                {"task_routing": {"filters": [], "default_filter": {"queue": self.queue}}}
            ),
        ).sid

    def advance(self, seconds: float) -> None:
        self.services.clock.advance_ms(int(seconds * 1000))  # type: ignore[attr-defined]
        self.services.engine.deadlines.tick()

    def worker(self, name: str, activity: str = "Available") -> str:
        sid: str = self.ws.workers.create(
            friendly_name=name, activity_sid=self.activities[activity],
            attributes=json.dumps({"skill": "support"}),
        ).sid  # fmt: skip
        return sid

    def task(self, **kw: Any) -> str:
        sid: str = self.ws.tasks.create(attributes="{}", workflow_sid=self.workflow, **kw).sid
        return sid

    def url(self, path: str) -> str:
        return f"/v1/Workspaces/{self.sid}/{path}"


@pytest.fixture
def desk(client: Client, services: Services, workspace: Any) -> Desk:
    return Desk(client, services, workspace)


def get(http: TestClient, url: str, **params: Any) -> dict[str, Any]:
    response = http.get(url, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error(http: TestClient, url: str, status: int = 400, **params: Any) -> dict[str, Any]:
    response = http.get(url, params=params)
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "more_info", "status"}
    return body


# -- shapes -----------------------------------------------------------------------------------


def test_every_resource_has_exactly_twilios_fields(http: TestClient, desk: Desk) -> None:
    worker = desk.worker("alice")
    q, wf = desk.queue, desk.workflow
    resources = {
        "Statistics": ENVELOPE | {"realtime", "cumulative"},
        "RealTimeStatistics": ENVELOPE | WORKSPACE_REAL_TIME,
        "CumulativeStatistics": ENVELOPE | WORKSPACE_CUMULATIVE,
        f"TaskQueues/{q}/Statistics": ENVELOPE | {"realtime", "cumulative", "task_queue_sid"},
        f"TaskQueues/{q}/RealTimeStatistics": ENVELOPE | QUEUE_REAL_TIME | {"task_queue_sid"},
        f"TaskQueues/{q}/CumulativeStatistics": ENVELOPE | QUEUE_CUMULATIVE | {"task_queue_sid"},
        f"Workflows/{wf}/Statistics": ENVELOPE | {"realtime", "cumulative", "workflow_sid"},
        f"Workflows/{wf}/RealTimeStatistics": ENVELOPE | TASKS_REAL_TIME | {"workflow_sid"},
        f"Workflows/{wf}/CumulativeStatistics": ENVELOPE | WORKFLOW_CUMULATIVE | {"workflow_sid"},
        "Workers/Statistics": ENVELOPE | {"realtime", "cumulative"},
        "Workers/RealTimeStatistics": ENVELOPE | WORKERS_REAL_TIME,
        "Workers/CumulativeStatistics": ENVELOPE | WORKERS_CUMULATIVE,
        f"Workers/{worker}/Statistics": ENVELOPE | {"cumulative", "worker_sid"},
    }
    for path, keys in resources.items():
        body = get(http, desk.url(path))
        assert set(body) == keys, path
        assert body["url"] == f"http://testserver{desk.url(path)}"
        assert (body["account_sid"], body["workspace_sid"]) == (ACCOUNT_SID, desk.sid)
    nested = {
        "Statistics": (WORKSPACE_REAL_TIME, WORKSPACE_CUMULATIVE),
        f"TaskQueues/{q}/Statistics": (QUEUE_REAL_TIME, QUEUE_CUMULATIVE),
        f"Workflows/{wf}/Statistics": (TASKS_REAL_TIME, WORKFLOW_CUMULATIVE),
        "Workers/Statistics": (WORKERS_REAL_TIME, WORKERS_CUMULATIVE),
    }
    for path, (realtime, cumulative) in nested.items():
        body = get(http, desk.url(path))
        assert (set(body["realtime"]), set(body["cumulative"])) == (realtime, cumulative), path
    instance = get(http, desk.url(f"Workers/{worker}/Statistics"))
    assert set(instance["cumulative"]) == WORKERS_CUMULATIVE


def test_an_empty_workspace_has_zero_figures(client: Client, desk: Desk) -> None:
    realtime = desk.ws.real_time_statistics().fetch()
    assert (realtime.total_tasks, realtime.total_workers) == (0, 0)
    assert realtime.tasks_by_status == {"pending": 0, "reserved": 0, "assigned": 0, "wrapping": 0}
    assert realtime.tasks_by_priority == {}
    assert (realtime.longest_task_waiting_age, realtime.longest_task_waiting_sid) == (0, None)
    assert [a["workers"] for a in realtime.activity_statistics] == [0, 0, 0]  # type: ignore[union-attr]
    cumulative = desk.ws.cumulative_statistics().fetch()
    assert cumulative.wait_duration_until_accepted == ZERO
    assert (cumulative.avg_task_acceptance_time, cumulative.split_by_wait_time) == (0, None)


def test_acceptance_time_is_whole_seconds_and_a_float_when_nested(desk: Desk) -> None:
    desk.worker("alice")
    task = desk.task()
    desk.advance(2.5)
    (reservation,) = desk.ws.tasks(task).reservations.list()
    desk.ws.tasks(task).reservations(reservation.sid).update(reservation_status="accepted")
    assert desk.ws.cumulative_statistics().fetch().avg_task_acceptance_time == 3  # 2.5 rounds up
    nested = desk.ws.statistics().fetch().cumulative["avg_task_acceptance_time"]
    assert (nested, type(nested)) == (3.0, float)


@pytest.mark.both_databases
def test_activity_statistics_list_every_activity_oldest_first(desk: Desk) -> None:
    desk.advance(1)
    lunch = desk.ws.activities.create(friendly_name="Lunch", available=False).sid
    desk.worker("alice", "Available")
    desk.worker("bob", "Available")
    desk.ws.workers(desk.worker("carol")).update(activity_sid=lunch)
    items = desk.ws.workers.real_time_statistics().fetch().activity_statistics
    assert items is not None and items[-1] == {"sid": lunch, "friendly_name": "Lunch", "workers": 1}
    counts = {item["friendly_name"]: item["workers"] for item in items}
    assert counts == {"Offline": 0, "Available": 2, "Unavailable": 0, "Lunch": 1}


# -- routes beside {Sid} routes --------------------------------------------------------------


def test_literal_routes_win_over_sid_routes(http: TestClient, desk: Desk) -> None:
    assert get(http, desk.url("TaskQueues/Statistics"))["meta"]["key"] == "task_queues_statistics"
    assert "activity_durations" in get(http, desk.url("Workers/CumulativeStatistics"))
    assert "total_workers" in get(http, desk.url("Workers/RealTimeStatistics"))
    assert "realtime" in get(http, desk.url("Workers/Statistics"))
    posted = http.post(desk.url("TaskQueues/RealTimeStatistics"), json={"QueueSids": [desk.queue]})
    assert posted.status_code == 200 and posted.json()["task_queue_response_count"] == 1
    # The {Sid} routes still answer for real SIDs.
    assert get(http, desk.url(f"TaskQueues/{desk.queue}"))["sid"] == desk.queue


def test_missing_or_foreign_resources_are_404(
    http: TestClient, desk: Desk, other_client: Client
) -> None:
    missing = {
        "TaskQueues/WQ" + "0" * 32: "TaskQueues",
        "Workflows/WW" + "0" * 32: "Workflows",
        "Workers/WK" + "0" * 32: "Workers",
    }
    for path in missing:
        suffixes = ["Statistics"] if path.startswith("Workers") else [
            "Statistics", "RealTimeStatistics", "CumulativeStatistics"
        ]  # fmt: skip
        for suffix in suffixes:
            body = error(http, desk.url(f"{path}/{suffix}"), 404)
            assert body["code"] == 20404 and path in body["message"]
    foreign = other_client.taskrouter.v1.workspaces(desk.sid)
    assert rest_error(lambda: foreign.statistics().fetch()).status == 404
    assert rest_error(lambda: foreign.task_queues(desk.queue).statistics().fetch()).status == 404


# -- windows ----------------------------------------------------------------------------------


def test_window_defaults_to_the_last_15_minutes(desk: Desk) -> None:
    desk.advance(3600)
    stats = desk.ws.cumulative_statistics().fetch()
    now = START_MS // 1000 + 3600
    assert stats.end_time is not None and stats.start_time is not None
    assert int(stats.end_time.timestamp()) == now
    assert int(stats.start_time.timestamp()) == now - 15 * 60
    minutes = desk.ws.cumulative_statistics().fetch(minutes=240)
    assert minutes.start_time is not None and int(minutes.start_time.timestamp()) == now - 240 * 60


def test_minutes_count_back_from_end_date_and_end_date_stops_at_now(
    http: TestClient, desk: Desk
) -> None:
    desk.advance(3600)
    body = get(http, desk.url("CumulativeStatistics"), EndDate="2026-01-01T00:30:00Z", Minutes=10)
    assert (body["start_time"], body["end_time"]) == (
        "2026-01-01T00:20:00Z",
        "2026-01-01T00:30:00Z",
    )
    future = get(http, desk.url("CumulativeStatistics"), EndDate="2027-01-01T00:00:00Z")
    assert future["end_time"] == "2026-01-01T01:00:00Z"
    both = get(http, desk.url("CumulativeStatistics"), StartDate="2026-01-01T00:05:00Z", Minutes=1)
    assert both["start_time"] == "2026-01-01T00:05:00Z"  # StartDate wins over Minutes


@pytest.mark.both_databases
def test_events_at_either_end_of_the_window_count(http: TestClient, desk: Desk) -> None:
    desk.task()  # created at 00:00:00, the window's start
    desk.advance(60)
    desk.task()  # created at 00:01:00, its end
    body = get(
        http, desk.url("CumulativeStatistics"),
        StartDate="2026-01-01T00:00:00Z", EndDate="2026-01-01T00:01:00Z",
    )  # fmt: skip
    assert body["tasks_created"] == 2


@pytest.mark.parametrize(
    ("params", "name", "code"),
    [
        ({"Minutes": "0"}, "Minutes", 20001),
        ({"Minutes": "soon"}, "Minutes", 20001),
        ({"Minutes": "43201"}, "Minutes", 20001),
        ({"StartDate": "yesterday"}, "StartDate", 20001),
        ({"EndDate": "2026-13-01T00:00:00Z"}, "EndDate", 20001),
        ({"StartDate": "2025-11-01T00:00:00Z"}, "StartDate", 14241),
        ({"EndDate": "2025-11-01T00:00:00Z"}, "EndDate", 14241),
        ({"StartDate": "2026-01-01T00:10:00Z", "EndDate": "2026-01-01T00:05:00Z"}, "StartDate",
         20001),
        ({"StartDate": "2026-01-02T00:00:00Z"}, "StartDate", 20001),
        ({"SplitByWaitTime": ""}, "SplitByWaitTime", 20001),
        ({"SplitByWaitTime": "5,,30"}, "SplitByWaitTime", 20001),
        ({"SplitByWaitTime": "0"}, "SplitByWaitTime", 20001),
        ({"SplitByWaitTime": "-5"}, "SplitByWaitTime", 20001),
        ({"SplitByWaitTime": "2.5"}, "SplitByWaitTime", 20001),
        ({"SplitByWaitTime": "five"}, "SplitByWaitTime", 20001),
        ({"SplitByWaitTime": ",".join(str(n) for n in range(1, 102))}, "SplitByWaitTime", 20001),
        ({"TaskChannel": "fax"}, "TaskChannel", 20001),
    ],
)  # fmt: skip
def test_bad_parameters_are_400_naming_them(
    http: TestClient, desk: Desk, params: dict[str, str], name: str, code: int
) -> None:
    desk.advance(3600)
    for path in ("CumulativeStatistics", "Statistics", f"TaskQueues/{desk.queue}/Statistics",
                 f"Workflows/{desk.workflow}/CumulativeStatistics"):  # fmt: skip
        body = error(http, desk.url(path), 400, **params)
        assert name in body["message"] and body["code"] == code, (path, body)


def test_worker_filters_are_checked(http: TestClient, desk: Desk) -> None:
    assert (
        "TaskQueueSid" in error(http, desk.url("Workers/Statistics"), TaskQueueSid="WQ1")["message"]
    )
    error(http, desk.url("Workers/Statistics"), 404, TaskQueueSid="WQ" + "0" * 32)
    error(http, desk.url("Workers/Statistics"), 404, TaskQueueName="Nowhere")
    assert (
        "TaskChannel"
        in error(http, desk.url("Workers/RealTimeStatistics"), TaskChannel="x")["message"]
    )


def test_split_by_wait_time_keys_are_sorted_and_unique(desk: Desk) -> None:
    stats = desk.ws.cumulative_statistics().fetch(split_by_wait_time=" 30, 5,30 ")
    assert list(stats.split_by_wait_time or {}) == ["5", "30"]
    side = {"tasks_canceled": 0, "reservations_accepted": 0}
    assert (stats.split_by_wait_time or {})["5"] == {"above": side, "below": side}


def test_task_channel_by_sid_or_unique_name(desk: Desk) -> None:
    chat = desk.ws.task_channels("chat").fetch().sid
    desk.task(task_channel="chat")
    desk.task()
    by_name = desk.ws.real_time_statistics().fetch(task_channel="chat")
    by_sid = desk.ws.real_time_statistics().fetch(task_channel=chat)
    assert by_name.total_tasks == by_sid.total_tasks == 1
    assert desk.ws.real_time_statistics().fetch().total_tasks == 2
    # Worker figures do not depend on the channel: activities are not per channel.
    desk.worker("alice", "Offline")
    assert by_name.activity_statistics == by_sid.activity_statistics
    assert desk.ws.real_time_statistics().fetch(task_channel="chat").total_workers == 1


@pytest.mark.both_databases
def test_deleted_workers_count_until_a_filter_names_workers(desk: Desk) -> None:
    alice = desk.worker("alice")
    task = desk.task()
    (reservation,) = desk.ws.tasks(task).reservations.list()
    desk.ws.tasks(task).reservations(reservation.sid).update(
        reservation_status="rejected", worker_activity_sid=desk.activities["Offline"]
    )
    desk.advance(5)
    desk.ws.workers(alice).delete()
    everyone = desk.ws.workers.cumulative_statistics().fetch()
    assert (everyone.reservations_created, everyone.reservations_rejected) == (1, 1)
    assert desk.ws.workers.statistics().fetch().cumulative["reservations_created"] == 1
    named = desk.ws.workers.statistics().fetch(friendly_name="alice")
    assert (named.realtime["total_workers"], named.cumulative["reservations_created"]) == (0, 0)
    assert rest_error(lambda: desk.ws.workers(alice).statistics().fetch()).status == 404


# -- figures that need no scripted day ---------------------------------------------------------


@pytest.mark.both_databases
def test_waits_survive_the_task_row(desk: Desk) -> None:
    """A deleted task's row is gone; its waits still count, from its own events."""
    desk.worker("alice")
    task = desk.task()
    desk.advance(7)
    (reservation,) = desk.ws.tasks(task).reservations.list()
    desk.ws.tasks(task).reservations(reservation.sid).update(reservation_status="accepted")
    queue = desk.ws.task_queues(desk.queue)
    before = queue.cumulative_statistics().fetch()
    desk.ws.tasks(task).delete()
    after = queue.cumulative_statistics().fetch()
    assert before.wait_duration_until_accepted == after.wait_duration_until_accepted
    assert after.wait_duration_until_accepted == {"avg": 7, "min": 7, "max": 7, "total": 7}
    assert after.wait_duration_in_queue_until_accepted == after.wait_duration_until_accepted
    assert (after.tasks_deleted, after.reservations_accepted) == (1, 1)


def test_relative_age_counts_from_entering_the_queue(client: Client, desk: Desk) -> None:
    later = desk.ws.task_queues.create(friendly_name="Later", target_workers="1==0").sid
    routing = {"filters": [{"expression": "1==1", "targets": [
        {"queue": desk.queue, "timeout": 100}, {"queue": later}]}]}  # fmt: skip
    flow = desk.ws.workflows.create(
        friendly_name="Tiers", configuration=json.dumps({"task_routing": routing})
    ).sid
    task = desk.ws.tasks.create(attributes="{}", workflow_sid=flow).sid
    desk.advance(130)
    stats = desk.ws.task_queues(later).real_time_statistics().fetch()
    assert (stats.longest_task_waiting_sid, stats.longest_relative_task_sid_in_queue) == (
        task,
        task,
    )
    assert (stats.longest_task_waiting_age, stats.longest_relative_task_age_in_queue) == (130, 30)
    moved = desk.ws.task_queues(desk.queue).cumulative_statistics().fetch()
    assert (moved.tasks_entered, moved.tasks_moved) == (1, 1)


@pytest.mark.both_databases
def test_longest_waiting_ignores_assigned_tasks(desk: Desk) -> None:
    desk.worker("alice")
    first = desk.task()
    (reservation,) = desk.ws.tasks(first).reservations.list()
    desk.ws.tasks(first).reservations(reservation.sid).update(reservation_status="accepted")
    desk.advance(10)
    second = desk.task(priority=7)  # alice is busy: it waits
    desk.advance(5)
    stats = desk.ws.task_queues(desk.queue).real_time_statistics().fetch()
    assert (stats.longest_task_waiting_sid, stats.longest_task_waiting_age) == (second, 5)
    assert stats.tasks_by_priority == {"0": 1, "7": 1}
    assert (stats.total_eligible_workers, stats.total_available_workers) == (1, 1)


# -- the bulk request -------------------------------------------------------------------------


def test_bulk_takes_the_sdk_body_in_either_spelling(desk: Desk) -> None:
    unknown = "WQ" + "f" * 32
    for key in ("QueueSids", "queueSids"):
        bulk = desk.ws.task_queues.bulk_real_time_statistics.create(
            Body({key: [desk.queue, unknown, desk.queue]})
        )
        data = bulk.task_queue_data or []
        assert [d["task_queue_sid"] for d in data] == [desk.queue, unknown]
        assert bulk.task_queue_response_count == 2
        assert all(set(d) == BULK_ITEM for d in data)
        zero = data[1]
        assert (zero["total_tasks"], zero["total_eligible_workers"]) == (0, 0)
        assert {a["workers"] for a in zero["activity_statistics"]} == {0}
        assert len(zero["activity_statistics"]) == len(desk.activities)


def test_bulk_refuses_bad_bodies(http: TestClient, desk: Desk) -> None:
    url = desk.url("TaskQueues/RealTimeStatistics")
    bad = [
        {"QueueSids": []},
        {"QueueSids": [f"WQ{n:032x}" for n in range(51)]},
        {"QueueSids": ["not-a-sid"]},
        {"QueueSids": "WQ" + "0" * 32},
        {"Other": []},
        ["WQ" + "0" * 32],
    ]
    for body in bad:
        response = http.post(url, json=body)
        assert response.status_code == 400, body
        assert "QueueSids" in response.json()["message"] or "object" in response.json()["message"]
    broken = http.post(url, content=b"{nope", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and "JSON" in broken.json()["message"]
    fifty = http.post(url, json={"QueueSids": [f"WQ{n:032x}" for n in range(50)]})
    assert fifty.status_code == 200 and fifty.json()["task_queue_response_count"] == 50


def test_bulk_takes_form_fields_too(http: TestClient, desk: Desk) -> None:
    response = http.post(desk.url("TaskQueues/RealTimeStatistics"), data={"QueueSids": desk.queue})
    assert response.status_code == 200
    assert response.json()["task_queue_data"][0]["task_queue_sid"] == desk.queue


def test_bulk_over_a_real_socket(live_client: Client) -> None:
    workspace = live_client.taskrouter.v1.workspaces.create(friendly_name="Live")
    ws = live_client.taskrouter.v1.workspaces(workspace.sid)
    queue = ws.task_queues.create(friendly_name="Q").sid
    bulk = ws.task_queues.bulk_real_time_statistics.create(Body({"QueueSids": [queue]}))
    assert bulk.task_queue_response_count == 1


# -- the queue list ---------------------------------------------------------------------------


@pytest.mark.both_databases
def test_queue_statistics_list_pages_and_filters(http: TestClient, desk: Desk) -> None:
    for name in ("Billing", "Claims", "Billing"):
        desk.ws.task_queues.create(friendly_name=name)
    every = list(desk.ws.task_queues.statistics.list(page_size=2, split_by_wait_time="10"))
    assert len(every) == 4 and len({s.task_queue_sid for s in every}) == 4
    assert all(set(s.cumulative) == QUEUE_CUMULATIVE for s in every)  # type: ignore[arg-type]
    assert all(s.cumulative["split_by_wait_time"] is not None for s in every)  # type: ignore[index]
    billing = desk.ws.task_queues.statistics.list(friendly_name="Billing")
    assert len(billing) == 2
    page = get(http, desk.url("TaskQueues/Statistics"), PageSize=2, Minutes=30)
    assert (
        page["meta"]["key"] == "task_queues_statistics" and len(page["task_queues_statistics"]) == 2
    )
    assert "Minutes=30" in page["meta"]["next_page_url"]
    item = page["task_queues_statistics"][0]
    assert set(item) == {"account_sid", "workspace_sid", "task_queue_sid", "realtime", "cumulative"}
