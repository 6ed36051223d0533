"""Task queue operations, and the queries that need the routing index (which queues a worker,
real or hypothetical, belongs to)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from switchboard.engine.core import EngineCore, check_friendly_name
from switchboard.engine.dispatch import Dispatcher
from switchboard.engine.tx import Tx
from switchboard.errors import InvalidParameter, not_found
from switchboard.events import EventType
from switchboard.expressions import ExpressionError, compile_expression
from switchboard.models import MAX_RESERVED_WORKERS, Prefix, TaskOrder, TaskQueue, new_sid

MAX_TASK_QUEUES = 5000  # per workspace (behaviour.md §9)
DEFAULT_TARGET_WORKERS = "1==1"


def check_target_workers(text: str) -> str:
    """A valid expression, or blank: Twilio documents that tasks in a queue without one wait
    until they are moved, deleted or time out, so a blank queue selects no worker."""
    if not text.strip():
        return ""
    try:
        compile_expression(text)
    except ExpressionError as error:
        raise InvalidParameter(f"TargetWorkers is not a valid expression: {error}") from None
    return text


def check_max_reserved_workers(value: int) -> int:
    if not 1 <= value <= MAX_RESERVED_WORKERS:
        raise InvalidParameter(
            f"MaxReservedWorkers must be between 1 and {MAX_RESERVED_WORKERS}, not {value}"
        )
    return value


@dataclass(frozen=True)
class QueueChanges:
    """An update's fields; None leaves a field as it is. For the two activity SIDs an empty
    string clears the activity."""

    friendly_name: str | None = None
    target_workers: str | None = None
    max_reserved_workers: int | None = None
    task_order: TaskOrder | None = None
    reservation_activity_sid: str | None = None
    assignment_activity_sid: str | None = None


class TaskQueues:
    """CreateTaskQueue, UpdateTaskQueue, DeleteTaskQueue, and which queues select a worker."""

    def __init__(self, core: EngineCore, dispatcher: Dispatcher) -> None:
        self.core = core
        self.store = core.store
        self.dispatcher = dispatcher

    def _task_queue(self, workspace_sid: str, sid: str) -> TaskQueue:
        queue = self.store.get_task_queue(workspace_sid, sid)
        if queue is None:
            raise not_found(f"/Workspaces/{workspace_sid}/TaskQueues/{sid}")
        return queue

    def _queue_activity(self, workspace_sid: str, sid: str | None, parameter: str) -> str | None:
        """An activity of this workspace, or None for none."""
        if not sid:
            return None
        if self.store.get_activity(workspace_sid, sid) is None:
            raise InvalidParameter(
                f"{parameter} {sid} is not an activity of workspace {workspace_sid}"
            )
        return sid

    def create_task_queue(
        self,
        workspace_sid: str,
        *,
        friendly_name: str,
        target_workers: str = DEFAULT_TARGET_WORKERS,
        max_reserved_workers: int = 1,
        task_order: TaskOrder = TaskOrder.FIFO,
        reservation_activity_sid: str | None = None,
        assignment_activity_sid: str | None = None,
    ) -> TaskQueue:
        """A new queue; at most 5,000 per workspace. Friendly names need not be unique."""
        check_friendly_name(friendly_name)
        target_workers = check_target_workers(target_workers)
        check_max_reserved_workers(max_reserved_workers)
        with self.core.writing(workspace_sid) as tx:
            ws, seq = tx.workspace, tx.seq
            reservation = self._queue_activity(
                workspace_sid, reservation_activity_sid, "ReservationActivitySid"
            )
            assignment = self._queue_activity(
                workspace_sid, assignment_activity_sid, "AssignmentActivitySid"
            )
            if self.store.count_task_queues(workspace_sid) >= MAX_TASK_QUEUES:
                raise InvalidParameter(f"A workspace has at most {MAX_TASK_QUEUES} task queues")
            now = self.core.now()
            queue = TaskQueue(
                new_sid(Prefix.TASK_QUEUE),
                workspace_sid,
                ws.account_sid,
                friendly_name,
                target_workers,
                max_reserved_workers,
                task_order,
                reservation,
                assignment,
                now,
                now,
            )
            self.store.insert_task_queue(queue, seq)
            stored = self._task_queue(workspace_sid, queue.sid)
            self._queue_changed(tx, stored)
            self._emit_queue(tx, EventType.TASK_QUEUE_CREATED, stored, "created")
            return stored

    def update_task_queue(self, workspace_sid: str, sid: str, changes: QueueChanges) -> TaskQueue:
        """Change the given fields; a new TargetWorkers recomputes the queue's members."""
        with self.core.writing(workspace_sid) as tx:
            queue = self._task_queue(workspace_sid, sid)
            if changes == QueueChanges():
                return queue
            old = queue
            queue = self._changed(queue, changes)
            self.store.update_task_queue(queue, tx.seq)
            stored = self._task_queue(workspace_sid, sid)
            self._queue_changed(tx, stored)
            if old.target_workers != stored.target_workers:
                self._emit_queue(
                    tx, EventType.TASK_QUEUE_EXPRESSION_UPDATED, stored, "expression updated"
                )
            return stored

    def _queue_changed(self, tx: Tx, queue: TaskQueue) -> None:
        """Keep the index in step and offer the queue's waiting tasks again: its members,
        order or reservation count may have changed."""
        tx.dirty = True
        tx.index.put_queue(queue)
        self.dispatcher.fill_queue(tx, queue.sid)

    def _emit_queue(self, tx: Tx, event: str, queue: TaskQueue, verb: str) -> None:
        tx.emit(
            event,
            resource_type="task_queue",
            resource_sid=queue.sid,
            description=f"TaskQueue {queue.friendly_name} {verb}",
            data={
                "task_queue_sid": queue.sid,
                "task_queue_name": queue.friendly_name,
                "task_queue_target_expression": queue.target_workers,
            },
            task_queue_sid=queue.sid,
        )

    def _changed(self, queue: TaskQueue, c: QueueChanges) -> TaskQueue:
        ws = queue.workspace_sid
        return replace(
            queue,
            friendly_name=(
                queue.friendly_name
                if c.friendly_name is None
                else check_friendly_name(c.friendly_name)
            ),
            target_workers=(
                queue.target_workers
                if c.target_workers is None
                else check_target_workers(c.target_workers)
            ),
            max_reserved_workers=(
                queue.max_reserved_workers
                if c.max_reserved_workers is None
                else check_max_reserved_workers(c.max_reserved_workers)
            ),
            task_order=queue.task_order if c.task_order is None else c.task_order,
            reservation_activity_sid=(
                queue.reservation_activity_sid
                if c.reservation_activity_sid is None
                else self._queue_activity(ws, c.reservation_activity_sid, "ReservationActivitySid")
            ),
            assignment_activity_sid=(
                queue.assignment_activity_sid
                if c.assignment_activity_sid is None
                else self._queue_activity(ws, c.assignment_activity_sid, "AssignmentActivitySid")
            ),
            date_updated=self.core.now(),
        )

    def delete_task_queue(self, workspace_sid: str, sid: str) -> None:
        with self.core.writing(workspace_sid) as tx:
            queue = self._task_queue(workspace_sid, sid)
            self._refuse_if_queue_in_use(tx, queue)
            self.store.delete_task_queue(workspace_sid, sid)
            self.store.add_tombstone(workspace_sid, tx.seq, "task_queue", sid)
            tx.dirty = True
            tx.index.forget_queue(sid)
            self._emit_queue(tx, EventType.TASK_QUEUE_DELETED, queue, "deleted")

    def _refuse_if_queue_in_use(self, tx: Tx, queue: TaskQueue) -> None:
        """TaskRouter refuses (400) to delete a queue that workflows or open tasks refer to."""
        workflows = sorted(
            entry.workflow.sid
            for entry in tx.index.work.workflows.values()
            if queue.sid in entry.config.queue_sids
        )
        if workflows:
            raise InvalidParameter(
                f"TaskQueue {queue.sid} cannot be deleted:"
                f" workflows use it ({', '.join(workflows)})"
            )
        tasks = sum(1 for e in tx.index.work.tasks.values() if e.task.task_queue_sid == queue.sid)
        if tasks:
            raise InvalidParameter(
                f"TaskQueue {queue.sid} cannot be deleted while {tasks} open tasks are in it"
            )

    def queue_sids_for_worker(self, workspace_sid: str, worker_sid: str) -> list[str]:
        """The queues whose target_workers select this worker of the workspace (404 if the
        workspace has no such worker)."""
        index = self.core.index(workspace_sid)
        if worker_sid not in index.workers:
            raise not_found(f"/Workspaces/{workspace_sid}/Workers/{worker_sid}")
        return index.queues_of(worker_sid)

    def queue_sids_for_attributes(self, workspace_sid: str, attributes: str) -> list[str]:
        """The queues a worker with these attributes (a JSON object) would belong to."""
        doc = json.loads(attributes)
        index = self.core.index(workspace_sid)
        return [sid for sid, entry in index.queues.items() if entry.expression.matches(doc)]
