"""Who is offered what: the workers a waiting task is offered to, the best waiting task for a
worker with room, and the batch of reservations that makes an offer.

Decisions (behaviour.md §2-§4 and docs/decisions.md): the longest-idle worker first (idle since
its last reservation, or its creation); a rejecting or timed-out worker is not excluded from
being offered the same task again; a reserved task does not collect more reservations after
its batch was created.
"""

from __future__ import annotations

import functools
from typing import Any

from switchboard.engine.records import Records
from switchboard.engine.targets import target_of
from switchboard.engine.transfer_ledger import TransferLedger
from switchboard.engine.tx import Tx
from switchboard.engine.work import ANY, TaskEntry
from switchboard.engine.worker_changes import WorkerChanges
from switchboard.events import EventType
from switchboard.expressions import Expression
from switchboard.models import (
    DEFAULT_RESERVATION_TIMEOUT,
    Prefix,
    Reservation,
    ReservationStatus,
    TaskOrder,
    TaskStatus,
    evolve,
    new_sid,
)
from switchboard.routing import (
    Target,
    known_worker_admits,
    known_worker_value,
    target_document,
)
from switchboard.storage import Store


@functools.lru_cache(maxsize=4096)
def _uses_channels(expression: Expression) -> bool:
    """Whether a target expression reads `worker.channel.…` (computed only when it does)."""
    return any(ref.path[:2] == ("worker", "channel") for ref in expression.references)


class Offers:
    """Picks the workers to offer a task to, reading the routing index, and reserves them:
    writes through `records` and `worker_changes`, and links the offers of a task being
    transferred in the `transfers` ledger."""

    def __init__(
        self,
        store: Store,
        records: Records,
        worker_changes: WorkerChanges,
        transfers: TransferLedger,
    ) -> None:
        self.store = store
        self.records = records
        self.worker_changes = worker_changes
        self.transfers = transfers

    def can_take(self, tx: Tx, worker_sid: str, channel_sid: str) -> bool:
        """Available activity and room: no open reservation at all when single-tasking, else
        room on the task's channel."""
        entry = tx.index.workers.get(worker_sid)
        if entry is None:
            return False
        activity = tx.index.activities.get(entry.worker.activity_sid)
        if activity is None or not activity.available:
            return False
        work = tx.index.work
        if not tx.workspace.multi_task_enabled:
            return work.open_count(worker_sid) == 0
        channel = tx.index.worker_channels.get(worker_sid, {}).get(channel_sid)
        if channel is None:
            return work.open_count(worker_sid, channel_sid) < 1
        return (
            channel.available
            and work.open_count(worker_sid, channel_sid) < channel.configured_capacity
        )

    def _fits(self, tx: Tx, entry: TaskEntry, target: Target, worker_sid: str) -> bool:
        """The step's own conditions: known worker and target expression."""
        worker = tx.index.workers[worker_sid]
        if not known_worker_admits(target, entry.doc, worker_sid, worker.worker.friendly_name):
            return False
        if target.expression is None:
            return True
        doc = worker.doc
        if _uses_channels(target.expression):
            doc = {**doc, "channel": self._channel_document(tx, worker_sid)}
        return target.expression.matches(target_document(entry.doc, doc, tx.now))

    def _channel_document(self, tx: Tx, worker_sid: str) -> dict[str, Any]:
        """`worker.channel.<unique_name>.*` for target expressions (behaviour.md §1.1):
        configured_capacity, assigned_tasks (accepted or wrapping) and
        available_capacity_percentage (open = pending, accepted or wrapping)."""
        work = tx.index.work
        pending: dict[str, int] = {}
        for reservation in work.pending_of(worker_sid):
            pending[reservation.task_channel_sid] = pending.get(reservation.task_channel_sid, 0) + 1
        doc: dict[str, Any] = {}
        for channel_sid, channel in tx.index.worker_channels.get(worker_sid, {}).items():
            task_channel = tx.index.channels.get(channel_sid)
            if task_channel is None:
                continue
            open_tasks = work.open_count(worker_sid, channel_sid)
            capacity = channel.configured_capacity
            free = max(capacity - open_tasks, 0)
            doc[task_channel.unique_name] = {
                "configured_capacity": capacity,
                "assigned_tasks": open_tasks - pending.get(channel_sid, 0),
                "available_capacity_percentage": (free * 100) // capacity if capacity else 0,
            }
        return doc

    def _pick_direct(self, tx: Tx, entry: TaskEntry) -> list[str]:
        """A direct task's one worker, when it still exists and may take the task: always
        with IgnoreCapacity (TaskRouter's default), else when available with room."""
        task = entry.task
        wanted = task.routing_target or ""
        if wanted not in tx.index.workers:
            return []
        if task.ignore_capacity or self.can_take(tx, wanted, task.task_channel_sid):
            return [wanted]
        return []

    def pick_workers(self, tx: Tx, entry: TaskEntry, target: Target, limit: int) -> list[str]:
        if entry.task.routing_target is not None:
            return self._pick_direct(tx, entry)
        queue_sid = target.queue_sid
        members = tx.index.members(queue_sid)
        channel = entry.task.task_channel_sid
        offered = {tx.index.work.reservations[r].worker_sid for r in entry.reservations}

        def eligible(sid: str) -> bool:
            return (
                sid not in offered
                and self.can_take(tx, sid, channel)
                and self._fits(tx, entry, target, sid)
            )

        work = tx.index.work
        if target.known_worker_sid is not None:
            # One worker at most: look it up rather than scan the queue.
            wanted = known_worker_value(target, entry.doc)
            return [wanted] if wanted in members and eligible(wanted) else []
        if target.known_worker_friendly_name is not None:
            return [sid for sid in members if eligible(sid)][:limit]
        if target.order_by:
            # The holders of the best keys only, not every member (engine/ranking.py).
            ranking = tx.index.ranking(queue_sid, target.order_by)
            return ranking.best(limit, work.idle_since, eligible)
        picked: list[str] = []
        idle_order = work.idle_order(channel if tx.workspace.multi_task_enabled else ANY)
        if len(members) * 8 < len(idle_order):
            ordered: Any = sorted((work.idle_since.get(sid, 0), sid) for sid in members)
        else:
            ordered = idle_order
        for _, sid in ordered:
            if sid in members and eligible(sid):
                picked.append(sid)
                if len(picked) >= limit:
                    break
        return picked

    def reserve(self, tx: Tx, entry: TaskEntry, worker_sids: list[str]) -> None:
        """One batch of reservations: the task becomes reserved (one assignment attempt)."""
        task = entry.task
        flow = tx.index.work.workflows.get(task.workflow_sid or "")
        workflow = flow.workflow if flow is not None else None
        timeout_s = workflow.task_reservation_timeout if workflow else DEFAULT_RESERVATION_TIMEOUT
        queue = tx.index.queues[task.task_queue_sid or ""].queue
        transfer = self.transfers.active(tx, task)
        task = evolve(
            task,
            assignment_status=TaskStatus.RESERVED,
            assignment_count=task.assignment_count + 1,
            date_updated=tx.now,
            version=task.version + 1,
        )
        self.records.save_task(tx, task)
        for worker_sid in worker_sids:
            worker = tx.index.workers[worker_sid].worker
            reservation = Reservation(
                new_sid(Prefix.RESERVATION),
                task.workspace_sid,
                task.account_sid,
                task.sid,
                worker_sid,
                task.task_queue_sid,
                task.task_channel_sid,
                ReservationStatus.PENDING,
                tx.now + timeout_s * 1000,
                worker.activity_sid,
                None,
                tx.now,
                tx.now,
                0,
                worker.friendly_name,
            )
            self.records.save_reservation(tx, reservation, new=True)
            if transfer is not None:
                self.transfers.link(tx, transfer, reservation.sid)
            if not tx.workspace.multi_task_enabled:
                self.worker_changes.set_activity(tx, worker_sid, queue.reservation_activity_sid)
            # After the activity's own change and event, whose version the SDK reads.
            self.worker_changes.count_on_worker(tx, worker_sid)
            self.records.emit_reservation(
                tx, EventType.RESERVATION_CREATED, reservation, task, "created"
            )
            if workflow and workflow.assignment_callback_url:
                self.store.assignment_callbacks.insert(
                    task.workspace_sid, reservation.sid, tx.now, tx.now
                )
                tx.callbacks.append(reservation.sid)

    def fill_worker(self, tx: Tx, worker_sid: str) -> None:
        """Give the worker the best waiting tasks it can take, while it has room."""
        if not tx.index.work.has_room(worker_sid):
            return  # unavailable, or no room on any channel: nothing to look for
        for _ in range(100):  # bounded: each round reserves one task or stops
            task_sid = self._best_task_for(tx, worker_sid)
            if task_sid is None:
                return
            entry = tx.index.work.tasks[task_sid]
            target = target_of(tx, entry.task)
            queue = tx.index.queues[entry.task.task_queue_sid or ""].queue
            others = []
            if queue.max_reserved_workers > 1 and target is not None:
                others = [
                    s
                    for s in self.pick_workers(tx, entry, target, queue.max_reserved_workers)
                    if s != worker_sid
                ][: queue.max_reserved_workers - 1]
            self.reserve(tx, entry, [worker_sid, *others])

    def _best_task_for(self, tx: Tx, worker_sid: str) -> str | None:
        work = tx.index.work
        prefer_lifo = tx.workspace.prioritize_queue_order == TaskOrder.LIFO
        best: tuple[Any, ...] | None = None
        best_sid: str | None = None
        # Only queues with waiting tasks can offer one: look at those and ask whether the
        # worker belongs, rather than list the worker's queues (every queue's expression).
        for queue_sid, waiting in work.waiting.items():
            if not waiting or not tx.index.is_member(queue_sid, worker_sid):
                continue
            kind = 0 if (queue_sid in work.lifo_queues) == prefer_lifo else 1
            for key, task_sid in waiting:
                candidate = (kind, key)
                if best is not None and candidate >= best:
                    break
                entry = work.tasks[task_sid]
                target = target_of(tx, entry.task)
                direct = entry.task.routing_target
                if (
                    target is not None
                    and target.queue_sid == queue_sid
                    and (direct is None or direct == worker_sid)
                    and self.can_take(tx, worker_sid, entry.task.task_channel_sid)
                    and self._fits(tx, entry, target, worker_sid)
                ):
                    best, best_sid = candidate, task_sid
                    break
        return best_sid
