"""The routing index: a per-workspace, in-memory cache of what matching needs.

It holds activities, task channels, queues with their compiled expressions, and workers with
their parsed attributes. It is never the source of truth: before each use it catches up with
the database by reading only rows whose change number is newer than the last it saw, so
changes made by other processes sharing the database are seen too. Queue membership is
computed lazily per queue and then kept up to date as workers and queues change.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

from switchboard.engine.ranking import OrderBy, Ranking, SortKey
from switchboard.engine.work import ANY, WorkState
from switchboard.expressions import Expression, compile_expression
from switchboard.models import (
    Activity,
    Reservation,
    TaskChannel,
    TaskOrder,
    TaskQueue,
    Worker,
    WorkerChannel,
    evolve,
)
from switchboard.routing import order_key
from switchboard.storage import Store

# How many order_bys' keys a worker entry keeps, and how many rankings a queue keeps: more
# than a workspace's workflows use at once (equal order_by texts are one order_by).
_SORT_KEYS_KEPT = 16
_RANKINGS_KEPT = 8


@dataclass(slots=True)
class WorkerEntry:
    """A worker as matching sees it: the record and the document expressions evaluate."""

    worker: Worker
    doc: dict[str, Any]
    # Its sort keys under targets' order_by, by the order_by's identity (`sort_key`). A
    # changed worker gets a new entry, so a key never outlives the document it came from.
    _sort_keys: dict[int, tuple[OrderBy, SortKey]] | None = None

    def sort_key(self, order_by: OrderBy) -> SortKey:
        """`order_key(order_by, doc)`, worked out once per order_by: routing a task to a
        queue with an order_by sorts every eligible member, and a large queue's keys cost
        milliseconds of the event loop for each task."""
        keys = self._sort_keys
        if keys is None:
            keys = self._sort_keys = {}
        cached = keys.get(id(order_by))
        if cached is not None and cached[0] is order_by:
            return cached[1]
        key = order_key(order_by, self.doc)
        if len(keys) >= _SORT_KEYS_KEPT:  # order_bys of workflows since replaced
            keys.clear()
        keys[id(order_by)] = (order_by, key)
        return key


def queue_expression(target_workers: str) -> Expression:
    """A queue's compiled target_workers; a blank one selects no worker (Twilio: its tasks
    wait until moved, deleted or timed out)."""
    return compile_expression(target_workers if target_workers.strip() else "1==0")


@dataclass(slots=True)
class QueueEntry:
    queue: TaskQueue
    expression: Expression
    # Worker SIDs matching target_workers; None until first needed.
    members: set[str] | None = None
    # The members ranked under each order_by of targets routing to this queue, by the
    # order_by's identity (`WorkspaceIndex.ranking`); kept up to date with `members`.
    rankings: dict[int, Ranking] | None = None

    def rank_in(self, worker_sid: str, entry: WorkerEntry) -> None:
        for ranking in (self.rankings or {}).values():
            ranking.add(worker_sid, entry.sort_key(ranking.order_by))

    def rank_out(self, worker_sid: str, entry: WorkerEntry) -> None:
        for ranking in (self.rankings or {}).values():
            ranking.remove(worker_sid, entry.sort_key(ranking.order_by))

    def rerank(self, worker_sid: str, old: WorkerEntry, new: WorkerEntry) -> None:
        for ranking in (self.rankings or {}).values():
            order_by = ranking.order_by
            ranking.move(worker_sid, old.sort_key(order_by), new.sort_key(order_by))


@functools.lru_cache(maxsize=8192)
def _reads_activity(expression: Expression) -> bool:
    """Whether a queue expression can read a worker's activity (its built-in fields)."""
    return any(
        ref.path[:1] in (("activity_sid",), ("activity_name",)) for ref in expression.references
    )


def worker_document(worker: Worker, activity_name: str) -> dict[str, Any]:
    """The worker's attributes plus the built-in fields expressions may use (`sid`,
    `friendly_name`, `activity_sid`, `activity_name`); an attribute of the same name wins."""
    try:
        attributes = json.loads(worker.attributes)
    except ValueError:
        attributes = {}
    doc: dict[str, Any] = attributes if isinstance(attributes, dict) else {}
    doc.setdefault("sid", worker.sid)
    doc.setdefault("friendly_name", worker.friendly_name)
    doc.setdefault("activity_sid", worker.activity_sid)
    doc.setdefault("activity_name", activity_name)
    return doc


@dataclass
class WorkspaceIndex:
    workspace_sid: str
    seq: int = -1
    activities: dict[str, Activity] = field(default_factory=dict)
    channels: dict[str, TaskChannel] = field(default_factory=dict)
    queues: dict[str, QueueEntry] = field(default_factory=dict)
    # The queues whose expression reads a worker's activity: the only ones an activity
    # change can move a worker in or out of.
    activity_queues: dict[str, QueueEntry] = field(default_factory=dict)
    workers: dict[str, WorkerEntry] = field(default_factory=dict)
    # Worker SID → task channel SID → that worker's channel (capacity, availability).
    worker_channels: dict[str, dict[str, WorkerChannel]] = field(default_factory=dict)
    work: WorkState = field(default_factory=WorkState)
    # The workspace's multitasking flag (set by each write): it decides what "room" means.
    multi_task: bool = True
    # Moves each time a worker is put or forgotten: readers keeping figures derived from the
    # workers (the console's queue board) look for changed workers only when it moved.
    worker_changes: int = 0

    def catch_up(self, store: Store, upto: int | None = None) -> None:
        """Apply every change committed since this index last looked (up to change number
        `upto` when given: a writer catches up to just before its own change)."""
        current = store.workspace_change_seq(self.workspace_sid) if upto is None else upto
        # Never backwards: on PostgreSQL a read beside a group being committed sees the
        # change number before the group's, whose changes this index already holds.
        if current is None or current <= self.seq:
            return
        since = self.seq
        if since >= 0:
            store.prefetch_changes(self.workspace_sid, since)
        renamed = self._apply_activities(store.activity_changes(self.workspace_sid, since))
        for channel in store.list_task_channels(self.workspace_sid):
            self.channels[channel.sid] = channel
        for queue in store.task_queue_changes(self.workspace_sid, since):
            self.put_queue(queue)
        if since < 0:
            self.work.seed_idle = store.reservations.last_reserved(self.workspace_sid)
        for worker in store.worker_changes(self.workspace_sid, since):
            self._put_worker(worker)
        for wc in store.worker_channel_changes(self.workspace_sid, since):
            self.put_worker_channel(wc)
        self._catch_up_work(store, since)
        for kind, sid in store.tombstones_since(self.workspace_sid, since):
            self._forget(kind, sid)
        if renamed:
            self._refresh_activity_names(renamed)
        self.seq = current

    def _catch_up_work(self, store: Store, since: int) -> None:
        work = self.work
        for workflow in store.workflows.changes(self.workspace_sid, since):
            work.put_workflow(workflow)
        first = since < 0
        tasks = (
            store.tasks.all_open(self.workspace_sid)
            if first
            else store.tasks.changes(self.workspace_sid, since)
        )
        for task in tasks:
            work.put_task(task)
        reservations = (
            store.reservations.all_open(self.workspace_sid)
            if first
            else store.reservations.changes(self.workspace_sid, since)
        )
        for reservation in reservations:
            self.put_reservation(reservation)

    def put_queue(self, queue: TaskQueue) -> None:
        old = self.queues.get(queue.sid)
        if old is not None and old.queue.target_workers == queue.target_workers:
            entry = QueueEntry(queue, old.expression, old.members, old.rankings)
        else:
            entry = QueueEntry(queue, queue_expression(queue.target_workers))
        self.queues[queue.sid] = entry
        if _reads_activity(entry.expression):
            self.activity_queues[queue.sid] = entry
        else:
            self.activity_queues.pop(queue.sid, None)
        self.work.set_queue_order(queue.sid, queue.task_order == TaskOrder.LIFO)

    def put_worker_channel(self, channel: WorkerChannel) -> None:
        self.worker_channels.setdefault(channel.worker_sid, {})[channel.task_channel_sid] = channel
        self.refresh_room(channel.worker_sid)

    def put_reservation(self, reservation: Reservation) -> None:
        """Record a reservation; the worker's load, and so its room, may change."""
        self.work.put_reservation(reservation)
        self.refresh_room(reservation.worker_sid)

    def set_multi_task(self, enabled: bool) -> None:
        if enabled != self.multi_task:
            self.multi_task = enabled
            for sid in self.workers:
                self.refresh_room(sid)

    def rooms(self, worker_sid: str) -> frozenset[str]:
        """Where the worker can take a task now: nowhere unless its activity is available;
        then ANY when single-tasking and it holds no open reservation, or the channels with
        room when multitasking."""
        entry = self.workers.get(worker_sid)
        activity = self.activities.get(entry.worker.activity_sid) if entry else None
        if activity is None or not activity.available:
            return frozenset()
        work = self.work
        channels = self.worker_channels.get(worker_sid)
        if not self.multi_task or not channels:
            return frozenset((ANY,)) if work.open_count(worker_sid) == 0 else frozenset()
        return frozenset(
            c.task_channel_sid
            for c in channels.values()
            if c.available
            and work.open_count(worker_sid, c.task_channel_sid) < c.configured_capacity
        )

    def refresh_room(self, worker_sid: str) -> None:
        entry = self.workers.get(worker_sid)
        if entry is not None:
            self.work.add_worker(worker_sid, entry.worker.date_created, self.rooms(worker_sid))

    def _apply_activities(self, changed: list[Activity]) -> set[str]:
        renamed = set()
        for activity in changed:
            old = self.activities.get(activity.sid)
            if old is not None and old.friendly_name != activity.friendly_name:
                renamed.add(activity.sid)
            self.activities[activity.sid] = activity
        return renamed

    def forget_queue(self, sid: str) -> None:
        """Drop a queue deleted by the current transaction."""
        self._forget("task_queue", sid)

    def forget_worker(self, sid: str) -> None:
        """Drop a worker deleted by the current transaction."""
        self._forget("worker", sid)

    def put_worker(self, worker: Worker) -> None:
        """Record a worker written by the current transaction."""
        self._put_worker(worker)

    def _put_worker(self, worker: Worker) -> None:
        activity = self.activities.get(worker.activity_sid)
        name = activity.friendly_name if activity else worker.activity_name
        old = self.workers.get(worker.sid)
        same = (
            old is not None
            and old.worker.attributes == worker.attributes
            and old.worker.friendly_name == worker.friendly_name
        )
        text = worker.attributes
        if same and old is not None and "activity_" not in text and "\\" not in text:
            # An activity change: the attributes cannot hold activity fields of their own (the
            # text neither names them nor escapes anything), so the parsed document is reused
            # with the built-in fields replaced, rather than the attributes parsed again.
            doc = {**old.doc, "activity_sid": worker.activity_sid, "activity_name": name}
        else:
            doc = worker_document(worker, name)
        entry = WorkerEntry(worker, doc)
        if same and old is not None:
            # The document differs only in the activity's fields, strings (no number for
            # an order_by) or overridden by the unchanged attributes: the same sort keys.
            entry._sort_keys = old._sort_keys
        self.workers[worker.sid] = entry
        self.worker_changes += 1
        self.work.add_worker(worker.sid, worker.date_created, self.rooms(worker.sid))
        # Same attributes and name (an activity change, the common case): only queues whose
        # expression reads the activity can have gained or lost the worker, and its place in
        # the other queues' rankings stays.
        for queue in (self.activity_queues if same else self.queues).values():
            if queue.members is None:
                continue
            was = worker.sid in queue.members
            if queue.expression.matches(entry.doc):
                queue.members.add(worker.sid)
                if not was:
                    queue.rank_in(worker.sid, entry)
                elif old is not None and not same:
                    queue.rerank(worker.sid, old, entry)
            elif was:
                queue.members.discard(worker.sid)
                if old is not None:
                    queue.rank_out(worker.sid, old)

    def _forget(self, kind: str, sid: str) -> None:
        if kind == "worker":
            entry = self.workers.pop(sid, None)
            self.worker_changes += 1
            self.worker_channels.pop(sid, None)
            self.work.remove_worker(sid)
            for queue in self.queues.values():
                if queue.members is not None and sid in queue.members:
                    queue.members.discard(sid)
                    if entry is not None:
                        queue.rank_out(sid, entry)
        elif kind == "task_queue":
            self.queues.pop(sid, None)
            self.activity_queues.pop(sid, None)
        elif kind == "workflow":
            self.work.forget_workflow(sid)
        elif kind == "task":
            self.work.forget_task(sid)
        elif kind == "activity":
            self.activities.pop(sid, None)
        elif kind == "task_channel":
            self.channels.pop(sid, None)

    def _refresh_activity_names(self, renamed: set[str]) -> None:
        for entry in list(self.workers.values()):
            if entry.worker.activity_sid in renamed:
                self._put_worker(entry.worker)

    def worker(self, sid: str) -> Worker | None:
        """The worker with its current activity name and availability filled in."""
        entry = self.workers.get(sid)
        return None if entry is None else self.current(entry.worker)

    def current(self, worker: Worker) -> Worker:
        activity = self.activities.get(worker.activity_sid)
        if activity is None:
            return worker
        if (
            activity.friendly_name == worker.activity_name
            and activity.available == worker.available
        ):
            return worker
        return evolve(worker, activity_name=activity.friendly_name, available=activity.available)

    def members(self, queue_sid: str) -> set[str]:
        """SIDs of the workers a queue's target_workers selects."""
        entry = self.queues[queue_sid]
        if entry.members is None:
            matches = entry.expression.matches
            entry.members = {sid for sid, w in self.workers.items() if matches(w.doc)}
        return entry.members

    def ranking(self, queue_sid: str, order_by: OrderBy) -> Ranking:
        """The queue's members ranked under `order_by`, built on first use and then kept up
        to date as workers change."""
        entry = self.queues[queue_sid]
        members = self.members(queue_sid)
        rankings = entry.rankings
        if rankings is None:
            rankings = entry.rankings = {}
        found = rankings.get(id(order_by))
        if found is not None and found.order_by is order_by:
            return found
        if len(rankings) >= _RANKINGS_KEPT:  # order_bys of workflows since replaced
            rankings.clear()
        ranking = rankings[id(order_by)] = Ranking(order_by)
        workers = self.workers
        for sid in members:
            ranking.add(sid, workers[sid].sort_key(order_by))
        return ranking

    def queues_of(self, worker_sid: str) -> list[str]:
        """SIDs of the queues whose target_workers select this worker."""
        entry = self.workers.get(worker_sid)
        if entry is None:
            return []
        return [sid for sid, q in self.queues.items() if self._is_member(q, worker_sid, entry)]

    def is_member(self, queue_sid: str, worker_sid: str) -> bool:
        """Whether the queue's target_workers selects the worker."""
        queue = self.queues.get(queue_sid)
        entry = self.workers.get(worker_sid)
        return queue is not None and entry is not None and self._is_member(queue, worker_sid, entry)

    def _is_member(self, queue: QueueEntry, worker_sid: str, entry: WorkerEntry) -> bool:
        if queue.members is not None:
            return worker_sid in queue.members
        return queue.expression.matches(entry.doc)
