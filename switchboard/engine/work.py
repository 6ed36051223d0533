"""The routing index's view of work: workflows, open tasks, open reservations, worker load.

Part of a workspace's routing index (engine/index.py). It answers the questions dispatch asks
many times a second without touching the database: which tasks wait in a queue and in what
order, how many open reservations a worker holds per channel, who has been idle longest.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from typing import Any

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
    workflows: dict[str, tuple[Workflow, WorkflowConfig]] = field(default_factory=dict)
    tasks: dict[str, TaskEntry] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)
    # Pending tasks per queue, best first: sorted (sort key, task SID) pairs.
    waiting: dict[str, list[tuple[tuple[Any, ...], str]]] = field(default_factory=dict)
    # Open reservations per worker and channel, and pending ones per worker.
    load: dict[str, dict[str, int]] = field(default_factory=dict)
    # When each worker was last reserved (the idle clock), and all workers in idle order.
    idle_since: dict[str, int] = field(default_factory=dict)
    idle_order: list[tuple[int, str]] = field(default_factory=list)
    ordered: set[str] = field(default_factory=set)
    # When the index is built: each worker's latest reservation, read once from the database.
    seed_idle: dict[str, int] = field(default_factory=dict)
    lifo_queues: set[str] = field(default_factory=set)

    # -- workflows ----------------------------------------------------------------------------

    def put_workflow(self, workflow: Workflow) -> None:
        self.workflows[workflow.sid] = (
            workflow,
            parse_workflow_configuration(workflow.configuration),
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
    # idle_since holds every worker; idle_order only those who can take work now (available
    # activity, room for a task), so the search for the longest-idle worker never walks past
    # thousands of offline or busy workers.

    def add_worker(self, worker_sid: str, created: int, available: bool) -> None:
        """Record a worker (idle since its last reservation, else its creation) and whether
        it can take work now (available activity and room for another task)."""
        since = self.idle_since.get(worker_sid)
        if since is None:
            since = self.idle_since[worker_sid] = self.seed_idle.pop(worker_sid, created)
        if available and worker_sid not in self.ordered:
            self.ordered.add(worker_sid)
            bisect.insort(self.idle_order, (since, worker_sid))
        elif not available and worker_sid in self.ordered:
            self.ordered.discard(worker_sid)
            self._drop_idle((since, worker_sid))

    def remove_worker(self, worker_sid: str) -> None:
        since = self.idle_since.pop(worker_sid, None)
        if since is not None and worker_sid in self.ordered:
            self._drop_idle((since, worker_sid))
        self.ordered.discard(worker_sid)
        self.load.pop(worker_sid, None)

    def touch_idle(self, worker_sid: str, moment: int) -> None:
        """The worker was just reserved: it becomes the most recently busy."""
        since = self.idle_since.get(worker_sid)
        if since is not None and since >= moment:
            return
        self.idle_since[worker_sid] = moment
        if worker_sid in self.ordered:
            if since is not None:
                self._drop_idle((since, worker_sid))
            bisect.insort(self.idle_order, (moment, worker_sid))

    def _drop_idle(self, item: tuple[int, str]) -> None:
        i = bisect.bisect_left(self.idle_order, item)
        if i < len(self.idle_order) and self.idle_order[i] == item:
            del self.idle_order[i]
