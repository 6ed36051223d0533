"""A scripted day in a contact centre, driven and read through the official SDK on the manual
clock: tasks created, reserved, accepted, rejected, timed out, rescinded, canceled, moved,
completed and deleted, workers changing activity. Every statistic is then checked field by
field against figures the test computes itself from its own record of the day (the Ledger),
never by calling Switchboard's statistics code."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from typing import Any

import pytest
from twilio.rest import Client

from switchboard.api.context import Services
from switchboard.app import create_app
from tests.support import (
    START_MS,
    InProcessHttpClient,
    drop_schema,
    make_services,
    new_schema_name,
    sdk_client,
)

T0 = START_MS
RESERVATION_EVENTS = {
    "reservation.created": "reservations_created",
    "reservation.accepted": "reservations_accepted",
    "reservation.rejected": "reservations_rejected",
    "reservation.timeout": "reservations_timed_out",
    "reservation.canceled": "reservations_canceled",
    "reservation.rescinded": "reservations_rescinded",
}
STATUSES = ("pending", "reserved", "assigned", "wrapping")


def ms(seconds: float) -> int:
    return T0 + int(seconds * 1000)


def whole(value: Decimal) -> int:
    """Seconds (as an exact Decimal) to whole seconds, halves rounded up."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def durations(lengths_ms: list[int]) -> dict[str, int]:
    if not lengths_ms:
        return {"avg": 0, "min": 0, "max": 0, "total": 0}
    seconds = [Decimal(n) / 1000 for n in lengths_ms]
    return {
        "avg": whole(sum(seconds) / len(seconds)),
        "min": whole(min(seconds)),
        "max": whole(max(seconds)),
        "total": whole(sum(seconds)),
    }


def iso(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class TaskFact:
    sid: str
    created: int
    workflow: str
    channel: str
    priority: int
    status: str = "pending"
    queue: str | None = None
    entered: int | None = None


@dataclass
class Event:
    type: str
    at: int
    task: str | None = None
    queue: str | None = None
    workflow: str | None = None
    worker: str | None = None
    channel: str | None = None
    previous_queue: str | None = None


@dataclass
class Ledger:
    """What the day should have produced, written down as the script runs."""

    tasks: dict[str, TaskFact] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    # Worker SID → [(since, activity SID)], in order.
    timelines: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    # (task, worker, reservation SID, status)
    reservations: list[list[str]] = field(default_factory=list)
    waits_accepted: list[tuple[int, str, int, int]] = field(default_factory=list)
    waits_canceled: list[tuple[int, str, int]] = field(default_factory=list)

    def task_event(self, kind: str, at: int, task: TaskFact, **extra: Any) -> None:
        self.events.append(
            Event(kind, at, task.sid, extra.pop("queue", task.queue), task.workflow,
                  channel=task.channel, **extra)
        )  # fmt: skip


class Day:
    """The workspace, its queues, workflows and workers, and the script's verbs."""

    def __init__(self, client: Client, services: Services) -> None:
        self.clock = services.clock
        self.engine = services.engine
        self.ledger = Ledger()
        created = client.taskrouter.v1.workspaces.create(friendly_name="Day")
        self.sid: str = created.sid
        self.ws = client.taskrouter.v1.workspaces(self.sid)
        self.ws.activities.create(friendly_name="Break", available=False)
        self.activities = {a.friendly_name: a.sid for a in self.ws.activities.list()}
        self.channels = {c.unique_name: c.sid for c in self.ws.task_channels.list()}
        self.sales = self.queue("Sales", "skills HAS 'sales'")
        self.support = self.queue("Support", "skills HAS 'support'")
        self.esc = self.queue("Esc", "skills HAS 'esc'", max_reserved_workers=2)
        self.main = self.workflow("Main", {
            "filters": [
                {"filter_friendly_name": "sales", "expression": "type == 'sales'",
                 "targets": [{"queue": self.sales, "timeout": 120}, {"queue": self.support}]},
                {"filter_friendly_name": "vip", "expression": "type == 'vip'",
                 "targets": [{"queue": self.support, "timeout": 60}]},
                {"filter_friendly_name": "esc", "expression": "type == 'esc'",
                 "targets": [{"queue": self.esc}]},
            ],
            "default_filter": {"queue": self.support},
        })  # fmt: skip
        self.other = self.workflow(
            "Other", {"filters": [], "default_filter": {"queue": self.support}}
        )
        self.skills: dict[str, list[str]] = {}
        self.now = T0
        self.alice = self.bob = self.carol = ""

    # -- setting up -----------------------------------------------------------------------------

    def queue(self, name: str, target: str, **kw: Any) -> str:
        sid: str = self.ws.task_queues.create(friendly_name=name, target_workers=target, **kw).sid
        return sid

    def workflow(self, name: str, routing: dict[str, Any]) -> str:
        sid: str = self.ws.workflows.create(
            friendly_name=name, configuration=json.dumps({"task_routing": routing}),
            task_reservation_timeout=30,
        ).sid  # fmt: skip
        return sid

    def worker(self, name: str, activity: str, *skills: str) -> str:
        sid: str = self.ws.workers.create(
            friendly_name=name, activity_sid=self.activities[activity],
            attributes=json.dumps({"skills": list(skills)}),
        ).sid  # fmt: skip
        self.skills[sid] = list(skills)
        self.ledger.timelines[sid] = [(self.now, self.activities[activity])]
        return sid

    # -- the clock ------------------------------------------------------------------------------

    def at(self, seconds: float) -> None:
        """Move the manual clock to T0 + seconds and process every deadline passed."""
        self.now = ms(seconds)
        self.clock.set_ms(self.now)  # type: ignore[attr-defined]
        self.engine.deadlines.tick()

    # -- tasks ----------------------------------------------------------------------------------

    def task(self, kind: str, workflow: str, queue: str, *, channel: str = "default",
             priority: int = 0) -> str:  # fmt: skip
        created = self.ws.tasks.create(
            attributes=json.dumps({"type": kind}), workflow_sid=workflow, task_channel=channel,
            priority=priority,
        )  # fmt: skip
        assert created.task_queue_sid == queue, f"{kind} task routed elsewhere"
        fact = TaskFact(created.sid, self.now, workflow, self.channels[channel], priority)
        self.ledger.tasks[fact.sid] = fact
        self.ledger.task_event("task.created", self.now, fact)
        self.ledger.task_event("workflow.entered", self.now, fact)
        self.enter(fact.sid, queue)
        return fact.sid

    def enter(self, task: str, queue: str, *, moved: bool = False) -> None:
        fact = self.ledger.tasks[task]
        if moved:
            self.ledger.task_event("task-queue.moved", self.now, fact, queue=queue,
                                   previous_queue=fact.queue)  # fmt: skip
        fact.queue, fact.entered = queue, self.now
        self.ledger.task_event("task-queue.entered", self.now, fact)

    def reserved(self, task: str, *workers: str) -> None:
        """The engine must just have offered `task` to exactly these workers."""
        pending = self.ws.tasks(task).reservations.list(reservation_status="pending")
        assert sorted(r.worker_sid for r in pending) == sorted(workers)
        fact = self.ledger.tasks[task]
        fact.status = "reserved"
        for r in pending:
            self.ledger.reservations.append([task, r.worker_sid, r.sid, "pending"])
            self.reservation_event("reservation.created", fact, r.worker_sid)

    def reservation_event(self, kind: str, fact: TaskFact, worker: str) -> None:
        self.ledger.task_event(kind, self.now, fact, worker=worker)

    def pending_of(self, task: str) -> list[list[str]]:
        return [r for r in self.ledger.reservations if r[0] == task and r[3] == "pending"]

    def accept(self, task: str, worker: str) -> None:
        fact = self.ledger.tasks[task]
        (mine,) = [r for r in self.pending_of(task) if r[1] == worker]
        self.ws.tasks(task).reservations(mine[2]).update(reservation_status="accepted")
        mine[3], fact.status = "accepted", "assigned"
        self.reservation_event("reservation.accepted", fact, worker)
        assert fact.queue is not None and fact.entered is not None
        self.ledger.waits_accepted.append(
            (self.now, fact.sid, self.now - fact.created, self.now - fact.entered)
        )
        for other in self.pending_of(task):
            other[3] = "rescinded"
            self.reservation_event("reservation.rescinded", fact, other[1])

    def reject(self, task: str, worker: str, activity: str) -> None:
        fact = self.ledger.tasks[task]
        (mine,) = [r for r in self.pending_of(task) if r[1] == worker]
        self.ws.tasks(task).reservations(mine[2]).update(
            reservation_status="rejected", worker_activity_sid=self.activities[activity]
        )
        mine[3], fact.status = "rejected", "pending"
        self.reservation_event("reservation.rejected", fact, worker)
        self.became(worker, activity)

    def timed_out(self, task: str, worker: str) -> None:
        """The reservation's 30 s ran out at this moment: the worker went Offline."""
        fact = self.ledger.tasks[task]
        (mine,) = [r for r in self.pending_of(task) if r[1] == worker]
        mine[3], fact.status = "timeout", "pending"
        self.reservation_event("reservation.timeout", fact, worker)
        self.became(worker, "Offline")

    def cancel(self, task: str) -> None:
        self.ws.tasks(task).update(assignment_status="canceled", reason="caller hung up")
        self.canceled(task)

    def canceled(self, task: str, *, workflow_timeout: bool = False) -> None:
        fact = self.ledger.tasks[task]
        for r in self.pending_of(task):
            r[3] = "canceled"
            self.reservation_event("reservation.canceled", fact, r[1])
        if workflow_timeout:
            self.ledger.task_event("workflow.timeout", self.now, fact)
        fact.status = "canceled"
        self.ledger.task_event("task.canceled", self.now, fact)
        self.ledger.waits_canceled.append((self.now, fact.sid, self.now - fact.created))

    def wrap(self, task: str) -> None:
        self.ws.tasks(task).update(assignment_status="wrapping")
        self.ledger.tasks[task].status = "wrapping"
        self.ledger.task_event("task.wrapup", self.now, self.ledger.tasks[task])

    def complete(self, task: str) -> None:
        self.ws.tasks(task).update(assignment_status="completed", reason="done")
        self.ledger.tasks[task].status = "completed"
        self.ledger.task_event("task.completed", self.now, self.ledger.tasks[task])

    def delete(self, task: str) -> None:
        self.ws.tasks(task).delete()
        fact = self.ledger.tasks[task]
        fact.status = "deleted"
        self.ledger.task_event("task.deleted", self.now, fact)

    # -- workers --------------------------------------------------------------------------------

    def set_activity(self, worker: str, activity: str) -> None:
        self.ws.workers(worker).update(activity_sid=self.activities[activity])
        self.became(worker, activity)

    def became(self, worker: str, activity: str) -> None:
        self.ledger.timelines[worker].append((self.now, self.activities[activity]))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def day(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The day, played once per database (module-scoped: every test reads the same finished
    day); the statistics SQL differs between SQLite and PostgreSQL (JSON fields)."""
    schema = new_schema_name()
    services = make_services(tmp_path_factory.mktemp("day"), request.param, schema)
    app = create_app(services.settings, services=services)
    client = sdk_client(InProcessHttpClient(app), "http://testserver")
    d = Day(client, services)
    play(d)
    yield d
    services.store.close()
    if request.param == "postgres":
        drop_schema(schema)


def play(d: Day) -> None:
    """The script. Times are seconds after T0; comments say what the engine must do."""
    alice = d.worker("alice", "Available", "sales")
    bob = d.worker("bob", "Offline", "support")
    carol = d.worker("carol", "Offline", "sales", "support")
    dave = d.worker("dave", "Available", "esc")
    erin = d.worker("erin", "Available", "esc")
    d.alice, d.bob, d.carol = alice, bob, carol

    d.at(10)
    a = d.task("sales", d.main, d.sales)
    d.reserved(a, alice)
    d.at(20)
    k = d.task("esc", d.main, d.esc)  # max_reserved_workers 2: both esc workers are offered
    d.reserved(k, dave, erin)
    d.at(25.5)
    d.accept(a, alice)  # waited 15.5 s
    d.at(30)
    d.accept(k, dave)  # erin's offer is rescinded
    d.at(35)
    d.complete(k)
    d.at(40)
    b = d.task("sales", d.main, d.sales)  # alice is busy, carol offline: B waits
    d.at(50)
    d.set_activity(carol, "Available")
    d.reserved(b, carol)
    d.at(60)
    lost = d.task("esc", d.main, d.esc)
    d.reserved(lost, dave, erin)
    d.at(65)
    d.cancel(lost)  # both offers canceled
    d.at(80)
    d.timed_out(b, carol)  # 30 s after the offer; carol goes Offline, B waits again
    d.at(90)
    d.complete(a)  # alice is free: B is offered to her
    d.reserved(b, alice)
    d.at(100)
    d.reject(b, alice, "Break")
    d.at(160)
    d.enter(b, d.support, moved=True)  # the Sales target's 120 s ran out
    d.at(170)
    d.set_activity(bob, "Available")
    d.reserved(b, bob)
    d.at(175)
    d.accept(b, bob)
    d.at(200)
    c = d.task("support", d.other, d.support, channel="chat", priority=5)  # bob's chat is free
    d.reserved(c, bob)
    d.at(205)
    d.accept(c, bob)
    d.at(220)
    vip = d.task("vip", d.main, d.support)  # nobody can take it
    d.at(280)
    d.canceled(vip, workflow_timeout=True)  # its only target's 60 s ran out
    d.at(300)
    e = d.task("support", d.main, d.support, priority=10)
    d.at(310)
    f = d.task("sales", d.main, d.sales)
    d.at(330)
    d.cancel(e)
    d.at(340)
    g = d.task("support", d.main, d.support)
    d.at(350)
    d.delete(g)
    d.at(360)
    d.wrap(b)
    d.at(370)
    d.complete(b)
    d.at(380)
    d.set_activity(bob, "Break")
    d.at(405)
    d.set_activity(alice, "Available")
    d.reserved(f, alice)
    d.at(415)
    d.accept(f, alice)
    d.at(450)
    h = d.task("support", d.main, d.support)
    d.at(460)
    d.task("support", d.other, d.support, channel="chat", priority=5)
    d.at(470)
    d.task("sales", d.main, d.sales)  # alice's default channel is busy with F
    d.at(490)
    d.set_activity(bob, "Available")  # chat is busy with C, so only H suits him
    d.reserved(h, bob)
    d.at(500)
    assert {dave, erin} <= set(d.ledger.timelines)


# -- expected figures, from the ledger alone ----------------------------------------------------


@dataclass(frozen=True)
class Scope:
    queue: str | None = None
    workflow: str | None = None
    channel: str | None = None
    workers: frozenset[str] | None = None

    def has(self, e: Event) -> bool:
        return (
            (self.queue is None or e.queue == self.queue)
            and (self.workflow is None or e.workflow == self.workflow)
            and (self.channel is None or e.channel == self.channel)
            and (self.workers is None or e.worker in self.workers)
        )


def window_events(d: Day, start: int, end: int, scope: Scope) -> list[Event]:
    return [e for e in d.ledger.events if start <= e.at <= end and scope.has(e)]


def expected_cumulative(
    d: Day, start: int, end: int, scope: Scope, thresholds: tuple[int, ...] = ()
) -> dict[str, Any]:
    events = window_events(d, start, end, scope)
    kinds = Counter(e.type for e in events)
    figures: dict[str, Any] = {name: kinds[kind] for kind, name in RESERVATION_EVENTS.items()}
    figures.update(
        tasks_created=kinds["task.created"], tasks_canceled=kinds["task.canceled"],
        tasks_completed=kinds["task.completed"], tasks_deleted=kinds["task.deleted"],
        tasks_timed_out_in_workflow=kinds["workflow.timeout"],
    )  # fmt: skip
    if scope.queue is not None:
        figures["tasks_entered"] = kinds["task-queue.entered"]
        figures["tasks_moved"] = sum(
            1 for e in d.ledger.events
            if e.type == "task-queue.moved" and start <= e.at <= end
            and e.previous_queue == scope.queue
        )  # fmt: skip
    else:
        figures["tasks_entered"] = kinds["workflow.entered"]
        figures["tasks_moved"] = kinds["task-queue.moved"]
    accepted_at = {(e.at, e.task) for e in events if e.type == "reservation.accepted"}
    canceled_at = {(e.at, e.task) for e in events if e.type == "task.canceled"}
    accepted = [w for w in d.ledger.waits_accepted if (w[0], w[1]) in accepted_at]
    canceled = [w for w in d.ledger.waits_canceled if (w[0], w[1]) in canceled_at]
    figures["wait_duration_until_accepted"] = durations([w[2] for w in accepted])
    figures["wait_duration_in_queue_until_accepted"] = durations([w[3] for w in accepted])
    figures["wait_duration_until_canceled"] = durations([w[2] for w in canceled])
    figures["avg_task_acceptance_time"] = figures["wait_duration_until_accepted"]["avg"]
    figures["split_by_wait_time"] = {
        str(t): {
            "below": {"tasks_canceled": sum(w[2] <= t * 1000 for w in canceled),
                      "reservations_accepted": sum(w[2] <= t * 1000 for w in accepted)},
            "above": {"tasks_canceled": sum(w[2] > t * 1000 for w in canceled),
                      "reservations_accepted": sum(w[2] > t * 1000 for w in accepted)},
        }
        for t in thresholds
    } if thresholds else None  # fmt: skip
    figures["start_time"], figures["end_time"] = iso(start), iso(end)
    return figures


def expected_durations(d: Day, start: int, end: int, workers: set[str]) -> dict[str, Any]:
    stints: dict[str, list[int]] = {sid: [] for sid in d.activities.values()}
    for worker in workers:
        timeline = [*d.ledger.timelines[worker], (d.now, "")]
        for (since, activity), (until, _) in pairwise(timeline):
            length = min(until, end) - max(since, start)
            if length > 0:
                stints[activity].append(length)
    names = {sid: name for name, sid in d.activities.items()}
    return {sid: {"sid": sid, "friendly_name": names[sid], **durations(lengths)}
            for sid, lengths in stints.items()}  # fmt: skip


def current_activity(d: Day, worker: str) -> str:
    return d.ledger.timelines[worker][-1][1]


def expected_activity_counts(d: Day, workers: set[str]) -> dict[str, Any]:
    counts = Counter(current_activity(d, w) for w in workers)
    names = {sid: name for name, sid in d.activities.items()}
    return {sid: {"sid": sid, "friendly_name": names[sid], "workers": counts[sid]}
            for sid in names}  # fmt: skip


def members(d: Day, skill: str) -> set[str]:
    return {w for w, skills in d.skills.items() if skill in skills}


def expected_real_time(d: Day, *, queue: str | None = None, workflow: str | None = None,
                       channel: str | None = None) -> dict[str, Any]:  # fmt: skip
    open_tasks = [
        t for t in d.ledger.tasks.values()
        if t.status in STATUSES
        and (queue is None or t.queue == queue) and (workflow is None or t.workflow == workflow)
        and (channel is None or t.channel == channel)
    ]  # fmt: skip
    by_priority = Counter(t.priority for t in open_tasks)
    status = Counter(t.status for t in open_tasks)
    waiting = sorted(
        (t for t in open_tasks if t.status in ("pending", "reserved")),
        key=lambda t: (t.created, t.sid),
    )
    figures: dict[str, Any] = {
        "total_tasks": len(open_tasks),
        "tasks_by_status": {s: status[s] for s in STATUSES},
        "tasks_by_priority": {str(p): by_priority[p] for p in sorted(by_priority)},
        "longest_task_waiting_sid": waiting[0].sid if waiting else None,
        "longest_task_waiting_age": (d.now - waiting[0].created) // 1000 if waiting else 0,
    }
    if queue is not None:
        relative = sorted(waiting, key=lambda t: (t.entered or 0, t.sid))
        figures["longest_relative_task_sid_in_queue"] = relative[0].sid if relative else None
        figures["longest_relative_task_age_in_queue"] = (
            (d.now - (relative[0].entered or 0)) // 1000 if relative else 0
        )
    return figures


def by_sid(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {item["sid"]: item for item in items}


def check(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """Field by field, each mismatch named."""
    wrong = {k: (actual.get(k), v) for k, v in expected.items() if actual.get(k) != v}
    assert not wrong, f"(actual, expected) by field: {wrong}"


def fields(instance: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(instance).items() if not k.startswith("_")}


def plain(figures: dict[str, Any]) -> dict[str, Any]:
    """SDK-parsed dates back to Twilio's text, for comparison with the expected figures."""
    return {
        k: iso(int(v.timestamp() * 1000)) if isinstance(v, datetime) else v
        for k, v in figures.items()
    }


ALL_DAY = {"minutes": 60}  # reaches back before T0: the whole day


# -- the workspace ----------------------------------------------------------------------------


def test_workspace_real_time(day: Day) -> None:
    stats = fields(day.ws.real_time_statistics().fetch())
    expected = expected_real_time(day)
    expected["total_workers"] = len(day.skills)
    check(stats, expected)
    assert by_sid(stats["activity_statistics"]) == expected_activity_counts(day, set(day.skills))
    assert stats["url"].endswith(f"/Workspaces/{day.sid}/RealTimeStatistics")


def test_workspace_cumulative_over_the_whole_day(day: Day) -> None:
    stats = plain(
        fields(day.ws.cumulative_statistics().fetch(**ALL_DAY, split_by_wait_time="10,60"))
    )
    expected = expected_cumulative(day, day.now - 3_600_000, day.now, Scope(), (10, 60))
    del expected["tasks_entered"], expected["wait_duration_in_queue_until_accepted"]
    check(stats, expected)
    # The day's totals, spelled out once as a sanity check of the ledger itself.
    assert (stats["tasks_created"], stats["reservations_created"]) == (12, 11)
    assert (stats["reservations_rescinded"], stats["reservations_canceled"]) == (1, 2)
    assert stats["wait_duration_until_accepted"] == {"avg": 54, "min": 5, "max": 135, "total": 271}


def test_workspace_cumulative_over_a_past_window(day: Day) -> None:
    start, end = ms(60), ms(280)
    stats = plain(fields(day.ws.cumulative_statistics().fetch(
        start_date=datetime.fromtimestamp(start / 1000, UTC),
        end_date=datetime.fromtimestamp(end / 1000, UTC), split_by_wait_time="100",
    )))  # fmt: skip
    expected = expected_cumulative(day, start, end, Scope(), (100,))
    del expected["tasks_entered"], expected["wait_duration_in_queue_until_accepted"]
    check(stats, expected)


def test_workspace_statistics_nest_both(day: Day) -> None:
    stats = day.ws.statistics().fetch(minutes=5, split_by_wait_time="30")
    expected = expected_cumulative(day, day.now - 300_000, day.now, Scope(), (30,))
    del expected["tasks_entered"], expected["wait_duration_in_queue_until_accepted"]
    expected["avg_task_acceptance_time"] = float(expected["avg_task_acceptance_time"])
    check(stats.cumulative, expected)
    assert isinstance(stats.cumulative["avg_task_acceptance_time"], float)
    realtime = expected_real_time(day)
    realtime["total_workers"] = len(day.skills)
    check(stats.realtime, realtime)


def test_workspace_figures_of_one_task_channel(day: Day) -> None:
    chat = day.channels["chat"]
    stats = plain(fields(day.ws.cumulative_statistics().fetch(**ALL_DAY, task_channel="chat")))
    expected = expected_cumulative(day, day.now - 3_600_000, day.now, Scope(channel=chat))
    del expected["tasks_entered"], expected["wait_duration_in_queue_until_accepted"]
    expected["split_by_wait_time"] = None
    check(stats, expected)
    assert stats["tasks_created"] == 2
    realtime = fields(day.ws.real_time_statistics().fetch(task_channel=chat))
    check(realtime, expected_real_time(day, channel=chat))


# -- queues -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sales", "support", "esc"])
def test_queue_real_time(day: Day, name: str) -> None:
    queue = getattr(day, name)
    stats = fields(day.ws.task_queues(queue).real_time_statistics().fetch())
    expected = expected_real_time(day, queue=queue)
    eligible = members(day, name)
    available = {day.activities["Available"]}
    expected["total_eligible_workers"] = len(eligible)
    expected["total_available_workers"] = sum(
        current_activity(day, w) in available for w in eligible
    )
    check(stats, expected)
    assert by_sid(stats["activity_statistics"]) == expected_activity_counts(day, eligible)
    assert stats["task_queue_sid"] == queue


@pytest.mark.parametrize("name", ["sales", "support", "esc"])
def test_queue_cumulative(day: Day, name: str) -> None:
    queue = getattr(day, name)
    stats = plain(fields(
        day.ws.task_queues(queue).cumulative_statistics().fetch(**ALL_DAY, split_by_wait_time="20")
    ))  # fmt: skip
    expected = expected_cumulative(day, day.now - 3_600_000, day.now, Scope(queue=queue), (20,))
    del expected["tasks_created"], expected["tasks_timed_out_in_workflow"]
    check(stats, expected)


def test_queue_moves_count_for_the_queue_left(day: Day) -> None:
    sales = day.ws.task_queues(day.sales).cumulative_statistics().fetch(**ALL_DAY)
    support = day.ws.task_queues(day.support).cumulative_statistics().fetch(**ALL_DAY)
    assert (sales.tasks_moved, support.tasks_moved) == (1, 0)
    # B waited 135 s from creation but 15 s from entering Support.
    assert support.wait_duration_in_queue_until_accepted["max"] == 15


def test_queue_statistics_list_and_bulk_agree_with_single_queues(day: Day) -> None:
    listed = {s.task_queue_sid: s for s in day.ws.task_queues.statistics.list(**ALL_DAY)}
    assert set(listed) == {day.sales, day.support, day.esc}
    for sid, item in listed.items():
        single = day.ws.task_queues(sid).statistics().fetch(**ALL_DAY)
        assert (item.realtime, item.cumulative) == (single.realtime, single.cumulative)

    class Body:
        def to_dict(self) -> dict[str, Any]:
            return {"QueueSids": [day.support, day.sales]}

    bulk = day.ws.task_queues.bulk_real_time_statistics.create(Body())
    assert bulk.task_queue_response_count == 2
    for data in bulk.task_queue_data:  # type: ignore[union-attr]
        realtime = dict(listed[data["task_queue_sid"]].realtime)
        for relative in (
            "longest_relative_task_age_in_queue",
            "longest_relative_task_sid_in_queue",
        ):
            del realtime[relative]
        assert {k: v for k, v in data.items() if k != "task_queue_sid"} == realtime


# -- workflows --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["main", "other"])
def test_workflow_figures(day: Day, name: str) -> None:
    workflow = getattr(day, name)
    context = day.ws.workflows(workflow)
    check(
        fields(context.real_time_statistics().fetch()), expected_real_time(day, workflow=workflow)
    )
    stats = plain(fields(context.cumulative_statistics().fetch(**ALL_DAY, split_by_wait_time="10")))
    expected = expected_cumulative(
        day, day.now - 3_600_000, day.now, Scope(workflow=workflow), (10,)
    )
    del expected["tasks_created"], expected["wait_duration_in_queue_until_accepted"]
    check(stats, expected)
    both = context.statistics().fetch(**ALL_DAY, split_by_wait_time="10")
    assert both.cumulative["tasks_entered"] == expected["tasks_entered"]
    check(both.realtime, expected_real_time(day, workflow=workflow))


# -- workers ----------------------------------------------------------------------------------


def test_workers_real_time_and_cumulative(day: Day) -> None:
    everyone = set(day.skills)
    realtime = fields(day.ws.workers.real_time_statistics().fetch())
    assert realtime["total_workers"] == len(everyone)
    assert by_sid(realtime["activity_statistics"]) == expected_activity_counts(day, everyone)
    stats = plain(fields(day.ws.workers.cumulative_statistics().fetch(**ALL_DAY)))
    start = day.now - 3_600_000
    expected = expected_cumulative(day, start, day.now, Scope())
    check(stats, {name: expected[name] for name in RESERVATION_EVENTS.values()})
    assert (stats["start_time"], stats["end_time"]) == (iso(start), iso(day.now))
    assert by_sid(stats["activity_durations"]) == expected_durations(day, start, day.now, everyone)


def test_activity_durations_are_clipped_to_a_past_window(day: Day) -> None:
    # bob's Break (380 to 490 s) ends after the window; his Available since 490 s starts after it.
    start, end = ms(300), ms(450)
    stats = day.ws.workers.cumulative_statistics().fetch(
        start_date=datetime.fromtimestamp(start / 1000, UTC),
        end_date=datetime.fromtimestamp(end / 1000, UTC),
    )
    expected = expected_durations(day, start, end, set(day.skills))
    assert by_sid(stats.activity_durations) == expected  # type: ignore[arg-type]
    assert expected[day.activities["Break"]]["total"] == 105 + 70


def test_workers_statistics_filtered_by_queue_name_and_channel(day: Day) -> None:
    start = day.now - 3_600_000
    sales_team = members(day, "sales")
    for query in ({"task_queue_sid": day.sales}, {"task_queue_name": "Sales"}):
        stats = day.ws.workers.statistics().fetch(**ALL_DAY, **query)
        assert stats.realtime["total_workers"] == len(sales_team)
        assert by_sid(stats.realtime["activity_statistics"]) == expected_activity_counts(
            day, sales_team
        )
        expected = expected_cumulative(day, start, day.now, Scope(workers=frozenset(sales_team)))
        check(stats.cumulative, {name: expected[name] for name in RESERVATION_EVENTS.values()})
        assert by_sid(stats.cumulative["activity_durations"]) == expected_durations(
            day, start, day.now, sales_team
        )
    bob = day.ws.workers.statistics().fetch(**ALL_DAY, friendly_name="BOB")
    assert bob.realtime["total_workers"] == 1
    chat = day.ws.workers.statistics().fetch(**ALL_DAY, task_channel="chat")
    expected = expected_cumulative(day, start, day.now, Scope(channel=day.channels["chat"]))
    check(chat.cumulative, {name: expected[name] for name in RESERVATION_EVENTS.values()})


@pytest.mark.parametrize("name", ["alice", "bob", "carol"])
def test_one_workers_statistics(day: Day, name: str) -> None:
    worker = getattr(day, name)
    start = day.now - 3_600_000
    stats = day.ws.workers(worker).statistics().fetch(**ALL_DAY)
    assert stats.worker_sid == worker
    expected = expected_cumulative(day, start, day.now, Scope(workers=frozenset({worker})))
    check(stats.cumulative, {name: expected[name] for name in RESERVATION_EVENTS.values()})
    assert by_sid(stats.cumulative["activity_durations"]) == expected_durations(
        day, start, day.now, {worker}
    )
