"""The routing index's view of work: workflows, open tasks, open reservations, worker load.

Part of a workspace's routing index (engine/index.py). It answers the questions dispatch asks
many times a second without touching the database: which tasks wait in a queue and in what
order, how many open reservations a worker holds per channel, who has been idle longest.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from switchboard.models import (
    OPEN_RESERVATION_STATUSES,
    OPEN_TASK_STATUSES,
    Reservation,
    ReservationStatus,
    Task,
    TaskStatus,
    Workflow,
)
from switchboard.routing import WorkflowConfig, parse_workflow_configuration, task_sort_key

# The key of the single idle order of a single-tasking workspace (any channel will do).
ANY = "*"


class WorkflowEntry(NamedTuple):
    """A workflow with its configuration parsed once, when the workflow is saved."""

    workflow: Workflow
    config: WorkflowConfig


@dataclass(slots=True)
class TaskEntry:
    task: Task
    doc: dict[str, Any]
    # SIDs of the task's open reservations (pending, accepted, wrapping).
    reservations: set[str] = field(default_factory=set)


def task_document(attributes: str) -> dict[str, Any]:
    try:
        doc = json.loads(attributes)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


@dataclass
class WorkState:
    workflows: dict[str, WorkflowEntry] = field(default_factory=dict)
    tasks: dict[str, TaskEntry] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)
    # Pending tasks per queue, best first: sorted (sort key, task SID) pairs.
    waiting: dict[str, list[tuple[tuple[Any, ...], str]]] = field(default_factory=dict)
    # Open reservations per worker and channel, and pending ones per worker.
    load: dict[str, dict[str, int]] = field(default_factory=dict)
    # When each worker was last reserved (the idle clock), and all workers in idle order.
    idle_since: dict[str, int] = field(default_factory=dict)
    orders: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    rooms: dict[str, frozenset[str]] = field(default_factory=dict)
    # When the index is built: each worker's latest reservation, read once from the database.
    seed_idle: dict[str, int] = field(default_factory=dict)
    lifo_queues: set[str] = field(default_factory=set)

    # -- workflows ----------------------------------------------------------------------------

    def put_workflow(self, workflow: Workflow) -> None:
        self.workflows[workflow.sid] = WorkflowEntry(
            workflow, parse_workflow_configuration(workflow.configuration)
        )

    def forget_workflow(self, sid: str) -> None:
        self.workflows.pop(sid, None)

    # -- tasks --------------------------------------------------------------------------------

    def put_task(self, task: Task) -> None:
        """Record the task's current state (closed tasks are dropped)."""
        old = self.tasks.get(task.sid)
        if old is not None:
            self._unwait(old.task)
        if task.assignment_status not in OPEN_TASK_STATUSES:
            self.tasks.pop(task.sid, None)
            return
        if old is not None and old.task.attributes == task.attributes:
            entry = TaskEntry(task, old.doc, old.reservations)
        else:
            entry = TaskEntry(
                task, task_document(task.attributes), old.reservations if old else set()
            )
        self.tasks[task.sid] = entry
        if task.assignment_status == TaskStatus.PENDING and task.task_queue_sid:
            key = self.sort_key(task)
            bisect.insort(self.waiting.setdefault(task.task_queue_sid, []), (key, task.sid))

    def forget_task(self, sid: str) -> None:
        entry = self.tasks.pop(sid, None)
        if entry is not None:
            self._unwait(entry.task)

    def sort_key(self, task: Task) -> tuple[Any, ...]:
        lifo = task.task_queue_sid in self.lifo_queues
        return task_sort_key(task.priority, task.virtual_start_time, task.sid, lifo)

    def _unwait(self, task: Task) -> None:
        if task.assignment_status != TaskStatus.PENDING or not task.task_queue_sid:
            return
        waiting = self.waiting.get(task.task_queue_sid)
        if not waiting:
            return
        item = (self.sort_key(task), task.sid)
        i = bisect.bisect_left(waiting, item)
        if i < len(waiting) and waiting[i] == item:
            del waiting[i]
        else:  # the queue's order changed (FIFO ↔ LIFO) since insertion
            waiting[:] = [w for w in waiting if w[1] != task.sid]

    def set_queue_order(self, queue_sid: str, lifo: bool) -> None:
        """Note a queue's task order, re-sorting its waiting tasks when it changed."""
        if lifo == (queue_sid in self.lifo_queues):
            return
        (self.lifo_queues.add if lifo else self.lifo_queues.discard)(queue_sid)
        waiting = self.waiting.get(queue_sid)
        if waiting:
            waiting[:] = sorted((self.sort_key(self.tasks[sid].task), sid) for _, sid in waiting)

    # -- reservations and worker load ---------------------------------------------------------

    def put_reservation(self, reservation: Reservation) -> None:
        old = self.reservations.get(reservation.sid)
        if old is not None:
            self._count(old, -1)
        entry = self.tasks.get(reservation.task_sid)
        if reservation.reservation_status in OPEN_RESERVATION_STATUSES:
            self.reservations[reservation.sid] = reservation
            self._count(reservation, +1)
            if entry is not None:
                entry.reservations.add(reservation.sid)
        else:
            self.reservations.pop(reservation.sid, None)
            if entry is not None:
                entry.reservations.discard(reservation.sid)
        if old is None:
            self.touch_idle(reservation.worker_sid, reservation.date_created)

    def _count(self, reservation: Reservation, delta: int) -> None:
        load = self.load.setdefault(reservation.worker_sid, {})
        channel = reservation.task_channel_sid
        load[channel] = load.get(channel, 0) + delta
        load[""] = load.get("", 0) + delta  # all channels together
        if reservation.reservation_status == ReservationStatus.PENDING:
            load["pending"] = load.get("pending", 0) + delta

    def open_count(self, worker_sid: str, channel_sid: str = "") -> int:
        """Open reservations of the worker on one channel ("" = on every channel)."""
        return self.load.get(worker_sid, {}).get(channel_sid, 0)

    def pending_of(self, worker_sid: str) -> list[Reservation]:
        return [
            r
            for r in self.reservations.values()
            if r.worker_sid == worker_sid and r.reservation_status == ReservationStatus.PENDING
        ]

    # -- idle order ---------------------------------------------------------------------------
    # idle_since holds every worker. The idle orders hold only workers who can take a task now:
    # one order per task channel with room on it (multitasking), or one order, ANY, of workers
    # with no open reservation (single-tasking). The search for the longest-idle worker then
    # never walks past thousands of offline or busy workers.

    def idle_order(self, channel_sid: str) -> list[tuple[int, str]]:
        """(idle since, worker SID) of the workers with room on the channel (or ANY), longest
        idle first."""
        return self.orders.get(channel_sid, [])

    def has_room(self, worker_sid: str) -> bool:
        """Whether the worker can take a task on some channel now."""
        return bool(self.rooms.get(worker_sid))

    def add_worker(self, worker_sid: str, created: int, rooms: frozenset[str]) -> None:
        """Record a worker (idle since its last reservation, else its creation) and the
        channels (or ANY) on which it can take a task now."""
        since = self.idle_since.get(worker_sid)
        if since is None:
            since = self.idle_since[worker_sid] = self.seed_idle.pop(worker_sid, created)
        old = self.rooms.get(worker_sid, frozenset())
        if old == rooms:
            return
        for key in old - rooms:
            self._drop_idle(key, (since, worker_sid))
        for key in rooms - old:
            bisect.insort(self.orders.setdefault(key, []), (since, worker_sid))
        if rooms:
            self.rooms[worker_sid] = rooms
        else:
            self.rooms.pop(worker_sid, None)

    def remove_worker(self, worker_sid: str) -> None:
        since = self.idle_since.pop(worker_sid, None)
        for key in self.rooms.pop(worker_sid, frozenset()):
            if since is not None:
                self._drop_idle(key, (since, worker_sid))
        self.load.pop(worker_sid, None)

    def touch_idle(self, worker_sid: str, moment: int) -> None:
        """The worker was just reserved: it becomes the most recently busy."""
        since = self.idle_since.get(worker_sid)
        if since is not None and since >= moment:
            return
        self.idle_since[worker_sid] = moment
        for key in self.rooms.get(worker_sid, frozenset()):
            if since is not None:
                self._drop_idle(key, (since, worker_sid))
            bisect.insort(self.orders.setdefault(key, []), (moment, worker_sid))

    def _drop_idle(self, key: str, item: tuple[int, str]) -> None:
        order = self.orders.get(key)
        if not order:
            return
        i = bisect.bisect_left(order, item)
        if i < len(order) and order[i] == item:
            del order[i]
