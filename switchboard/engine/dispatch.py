"""Dispatch: placing tasks in workflow steps and offering them to workers as reservations.

Everything here runs inside one `Tx` (under the workspace lock, opened by the caller with
`EngineCore.writing`) and keeps the routing index in step with the rows it writes. Two entry
points drive it:
- `route_task(tx, sid)`: a task became pending (created, rejected, timed out, re-evaluated):
  offer it to the best available workers of its current step, or skip the step.
- `fill_worker(tx, sid)`: a worker may take work (activity now available, capacity freed,
  attributes changed): give it the best waiting task it is eligible for.
Decisions (behaviour.md §2-§4 and docs/decisions.md): the longest-idle worker first (idle since
its last reservation, or its creation); a rejecting or timed-out worker is not excluded from
being offered the same task again; a reserved task does not collect more reservations after
its batch was created.

A task created with a worker `RoutingTarget` (direct routing) skips its workflow: it waits in
the queue it was given, in a step of its own (`direct_target`), offered to that one worker
only. Its `step_deadline` is the time it has to get that reservation; missing it, or the
worker declining the one offer, cancels the task (docs/decisions.md).

A task being transferred (the worker SDK's `Task.transfer`, engine/transfers.py) waits the
same way: for a worker, as a direct task of that worker (offered at once: a worker without
room is refused the transfer); for a queue, in that queue with no condition but its members'.
How the transfer ends is decided here, where its offers end (`requeue`, `cancel_task`; an
accept is the reservations' `_accept`).
"""

from __future__ import annotations

import functools
from typing import Any

from switchboard.engine.event_data import reservation_data, task_data, worker_data
from switchboard.engine.transfer_ledger import TransferLedger
from switchboard.engine.tx import Tx
from switchboard.engine.work import ANY, TaskEntry
from switchboard.events import EventType
from switchboard.expressions import Expression
from switchboard.models import (
    DEFAULT_RESERVATION_TIMEOUT,
    MAX_ASSIGNMENT_COUNT,
    Prefix,
    Reservation,
    ReservationStatus,
    Task,
    TaskOrder,
    TaskStatus,
    Transfer,
    TransferStatus,
    Worker,
    evolve,
    new_sid,
)
from switchboard.routing import (
    Step,
    Target,
    filter_document,
    first_step,
    known_worker_admits,
    known_worker_value,
    next_step,
    order_key,
    skip_document,
    target_document,
)
from switchboard.storage import Store

TTL_EXCEEDED = "Task TTL Exceeded"
MAX_ASSIGNMENTS_EXCEEDED = "Max Assignment Count Exceeded"
WORKFLOW_TIMEOUT = "Workflow Timeout"
NO_MATCHING_FILTER = "No matching workflow filter"
# TaskRouter's reason when a directly routed task could not be offered to its worker in time
# (the worker SDK's reservation.failed payload carries it).
ROUTING_TARGET_SLA_MISSED = "RoutingTarget SLA for Reservation creation was not met"
ROUTING_TARGET_DECLINED = "The RoutingTarget worker did not accept the Reservation"
# A transfer's failed reasons, as the worker SDK's OutgoingTransfer shows them.
TRANSFER_DECLINED = "Transfer failed because the reservation was {how}"
TRANSFER_ATTEMPT_DECLINED = (
    "Transfer attempt failed because the reservation was {how} and there are no more pending"
    " reservations"
)


@functools.lru_cache(maxsize=4096)
def _uses_channels(expression: Expression) -> bool:
    """Whether a target expression reads `worker.channel.…` (computed only when it does)."""
    return any(ref.path[:2] == ("worker", "channel") for ref in expression.references)


@functools.lru_cache(maxsize=1024)
def direct_target(queue_sid: str) -> Target:
    """The step a directly routed task waits in: its queue and no condition of a workflow's.
    `_pick_direct` and `_best_task_for` hold it to its one worker, so that `_fits`, run for
    every candidate of an ordinary task, has nothing more to test."""
    return Target(queue_sid, None, None, None, (), None, None, None)


class Dispatcher:
    """The routing half of the engine, shared by the per-resource operations: it writes tasks,
    reservations and engine-driven activity changes, and decides who is offered what.

    It never opens a write of its own; every method takes the caller's `Tx`."""

    def __init__(self, store: Store, closed_task_retention_ms: int | None = None) -> None:
        self.store = store
        self.closed_task_retention_ms = closed_task_retention_ms
        self.transfers = TransferLedger(store)

    # -- writing tasks, reservations and workers, index kept in step --------------------------

    def save_task(self, tx: Tx, task: Task, *, new: bool = False) -> Task:
        tx.note_deadline(task.step_deadline)
        tx.note_deadline(task.ttl_deadline)
        if new:
            self.store.tasks.insert(task, tx.seq)
        else:
            old = tx.index.work.tasks.get(task.sid)
            self.store.tasks.update(task, tx.seq, old.task if old is not None else None)
        tx.dirty = True
        tx.index.work.put_task(task)
        tx.saved_tasks[task.sid] = task
        return task

    def save_reservation(self, tx: Tx, reservation: Reservation, *, new: bool = False) -> None:
        tx.note_deadline(reservation.timeout_deadline)
        if new:
            self.store.reservations.insert(reservation, tx.seq)
        else:
            self.store.reservations.update(reservation, tx.seq)
        tx.dirty = True
        tx.index.put_reservation(reservation)
        tx.saved_reservations[reservation.sid] = reservation

    def emit_task(
        self,
        tx: Tx,
        event: str,
        task: Task,
        description: str,
        *,
        extra: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """An event about a task, filed under its queue, workflow and channel."""
        body = task_data(task, tx.index, tx.now) if data is None else data
        tx.emit_about_task(event, task, description, {**body, **extra} if extra else body)

    def set_activity(self, tx: Tx, worker_sid: str, activity_sid: str | None) -> Worker | None:
        """Move a worker to an activity (engine-driven: reservation, assignment, timeout)."""
        entry = tx.index.workers.get(worker_sid)
        activity = tx.index.activities.get(activity_sid or "")
        if entry is None or activity is None or entry.worker.activity_sid == activity.sid:
            return None
        old = tx.index.current(entry.worker)
        worker = evolve(
            entry.worker,
            activity_sid=activity.sid,
            activity_name=activity.friendly_name,
            available=activity.available,
            date_updated=tx.now,
            date_status_changed=tx.now,
            version=entry.worker.version + 1,
        )
        self.store.update_worker(worker, tx.seq)
        tx.dirty = True
        tx.index.put_worker(worker)
        data = worker_data(worker, tx.index)
        data.update(
            worker_previous_activity_sid=old.activity_sid,
            worker_previous_activity_name=old.activity_name,
            worker_time_in_previous_activity=str(max(tx.now - old.date_status_changed, 0) // 1000),
            worker_time_in_previous_activity_ms=str(max(tx.now - old.date_status_changed, 0)),
        )
        tx.emit(
            EventType.WORKER_ACTIVITY_UPDATE,
            resource_type="worker",
            resource_sid=worker.sid,
            description=(
                f"Worker {worker.friendly_name} updated to {activity.friendly_name} Activity"
            ),
            data=data,
            worker_sid=worker.sid,
        )
        return worker

    def count_on_worker(self, tx: Tx, worker_sid: str) -> Worker | None:
        """One more version of the worker, for a change the worker SDK counts itself rather
        than reads from a worker payload: a reservation offered to the worker, a channel's
        capacity or availability changed (docs/worker-sdk.md, Versions)."""
        entry = tx.index.workers.get(worker_sid)
        if entry is None:
            return None
        worker = evolve(entry.worker, version=entry.worker.version + 1)
        self.store.update_worker(worker, tx.seq)
        tx.dirty = True
        tx.index.put_worker(worker)
        return worker

    # -- workflow steps -----------------------------------------------------------------------

    def target(self, tx: Tx, task: Task) -> Target | None:
        flow = tx.index.work.workflows.get(task.workflow_sid or "")
        if flow is None or task.filter_index is None or task.target_index is None:
            # Only a task in no workflow step can be a direct one (or one transferred to a
            # queue, which waits there for any member): routed tasks pay nothing.
            if task.task_queue_sid is not None and (
                task.routing_target is not None or task.transfer_sid is not None
            ):
                return direct_target(task.task_queue_sid)
            return None
        config = flow.config
        if task.filter_index < 0:
            return config.default_filter
        if task.filter_index >= len(config.filters):
            return None
        targets = config.filters[task.filter_index].targets
        return targets[task.target_index] if task.target_index < len(targets) else None

    def _step_of(self, tx: Tx, task: Task) -> Step | None:
        target = self.target(tx, task)
        if target is None or task.target_index is None:
            return None
        filter_index = (
            None if task.filter_index is None or task.filter_index < 0 else task.filter_index
        )
        return Step(filter_index, task.target_index, target, task.step_deadline)

    def start_workflow(self, tx: Tx, task: Task) -> None:
        """Run a pending task through its workflow from the first filter (a direct task, which
        its workflow never routes, is offered to its worker again, and a task being
        transferred to a queue stays there)."""
        if task.routing_target is not None or (
            task.transfer_sid is not None
            and task.filter_index is None
            and task.task_queue_sid is not None
        ):
            self.route_task(tx, task.sid)
            return
        self._run_workflow(tx, task)

    def _run_workflow(self, tx: Tx, task: Task) -> None:
        flow = tx.index.work.workflows.get(task.workflow_sid or "")
        if flow is None:
            return
        entry = tx.index.work.tasks[task.sid]
        doc = filter_document(entry.doc, tx.now)
        step = first_step(flow.config, doc, task.date_created)
        if step is None:
            # No filter matched and there is no default_filter: the task waits, in no queue,
            # until its TTL or an attribute update (docs/decisions.md). A re-routed task leaves
            # the step it was in, so its old queue's workers can no longer take it.
            if task.task_queue_sid is not None or task.filter_index is not None:
                self.save_task(
                    tx,
                    evolve(
                        entry.task,
                        filter_index=None,
                        target_index=None,
                        task_queue_sid=None,
                        task_queue_entered_date=None,
                        step_deadline=None,
                        date_updated=tx.now,
                        version=entry.task.version + 1,
                    ),
                )
            return
        self.emit_task(
            tx,
            EventType.WORKFLOW_ENTERED,
            task,
            f"Task {task.sid} entered Workflow {flow.workflow.friendly_name}",
        )
        self._enter_step(tx, task.sid, step)

    def _enter_step(
        self, tx: Tx, task_sid: str, step: Step | None, *, skipped: bool = False
    ) -> None:
        """Put the task in `step` (passing over steps whose deadline is already past), try to
        reserve workers, and skip on when skip_if says so. No step left: the task leaves the
        workflow and is canceled."""
        while True:
            entry = tx.index.work.tasks[task_sid]
            task = entry.task
            flow = tx.index.work.workflows[task.workflow_sid or ""]
            if step is None:
                self._fall_out(tx, task, skipped)
                return
            if step.deadline_ms is not None and step.deadline_ms <= tx.now:
                step = next_step(
                    flow.config,
                    filter_document(entry.doc, tx.now),
                    step,
                    task.date_created,
                    skipped=False,
                )
                skipped = False
                continue
            task = self._place(tx, task, step)
            if self.route_task(tx, task_sid, entering=True):
                return
            if step.target.skip_if is None or not self._should_skip(tx, step):
                return
            step = next_step(
                flow.config,
                filter_document(entry.doc, tx.now),
                step,
                task.date_created,
                skipped=True,
            )
            skipped = True

    def _should_skip(self, tx: Tx, step: Step) -> bool:
        assert step.target.skip_if is not None
        members = (
            tx.index.members(step.target.queue_sid)
            if step.target.queue_sid in tx.index.queues
            else set()
        )
        by_activity: dict[str, int] = {}
        available = 0
        for sid in members:
            worker = tx.index.workers[sid].worker
            activity = tx.index.activities.get(worker.activity_sid)
            by_activity[worker.activity_sid] = by_activity.get(worker.activity_sid, 0) + 1
            if activity is not None and activity.available:
                available += 1
        doc = skip_document(available, len(members) - available, by_activity)
        return step.target.skip_if.matches(doc)

    def _place(self, tx: Tx, task: Task, step: Step) -> Task:
        """Record the task's new step: its queue, priority override and deadline."""
        queue_sid = step.target.queue_sid
        moved = task.task_queue_sid is not None and task.task_queue_sid != queue_sid
        previous_queue = task.task_queue_sid
        task = evolve(
            task,
            filter_index=-1 if step.filter_index is None else step.filter_index,
            target_index=step.target_index,
            task_queue_sid=queue_sid,
            task_queue_entered_date=tx.now
            if task.task_queue_sid != queue_sid
            else task.task_queue_entered_date,
            step_deadline=step.deadline_ms,
            priority=step.target.priority if step.target.priority is not None else task.priority,
            date_updated=tx.now,
            version=task.version + 1,
        )
        self.save_task(tx, task)
        data = task_data(task, tx.index, tx.now)
        self.emit_task(
            tx,
            EventType.WORKFLOW_TARGET_MATCHED,
            task,
            f"Task {task.sid} matched a workflow target",
            data=data,
            extra=self._step_data(tx, task, step),
        )
        if moved:
            self.emit_task(
                tx,
                EventType.TASK_QUEUE_MOVED,
                task,
                f"Task {task.sid} moved from TaskQueue {previous_queue} to {queue_sid}",
                data=data,
                extra={"task_queue_previous_sid": previous_queue},
            )
        if previous_queue != queue_sid:
            name = data["task_queue_name"]
            self.emit_task(
                tx,
                EventType.TASK_QUEUE_ENTERED,
                task,
                f"Task {task.sid} entered TaskQueue {name}",
                data=data,
            )
        return task

    def _step_data(self, tx: Tx, task: Task, step: Step) -> dict[str, Any]:
        config = tx.index.work.workflows[task.workflow_sid or ""].config
        filter_ = config.filters[step.filter_index] if step.filter_index is not None else None
        return {
            "workflow_filter_name": filter_.name if filter_ else "default_filter",
            "workflow_filter_expression": filter_.expression.text if filter_ else None,
            "workflow_filter_target_name": step.target.queue_sid,
            "workflow_filter_target_expression": (
                step.target.expression.text if step.target.expression else None
            ),
        }

    def _fall_out(self, tx: Tx, task: Task, skipped: bool) -> None:
        """The task has no step left: it leaves the workflow and is canceled."""
        event = EventType.WORKFLOW_SKIPPED if skipped else EventType.WORKFLOW_TIMEOUT
        how = "skipped" if skipped else "timed out"
        self.emit_task(tx, event, task, f"Task {task.sid} left its workflow ({how})")
        self.cancel_task(tx, task, WORKFLOW_TIMEOUT)

    def start_direct(self, tx: Tx, task: Task) -> None:
        """A new task routed to a worker (RoutingTarget): it is in its queue from the start
        and is offered to that worker alone, at once when it may take it."""
        queue = tx.index.queues[task.task_queue_sid or ""].queue
        self.emit_task(
            tx,
            EventType.TASK_QUEUE_ENTERED,
            task,
            f"Task {task.sid} entered TaskQueue {queue.friendly_name}",
        )
        self.route_task(tx, task.sid, entering=True)

    def _miss_sla(self, tx: Tx, task: Task) -> None:
        """A direct task's time to be offered to its worker ran out: the task is canceled and
        the worker told, as TaskRouter does, by a reservation.failed carrying the task."""
        task = self.cancel_task(tx, task, ROUTING_TARGET_SLA_MISSED)
        data = task_data(task, tx.index, tx.now)
        worker = tx.index.workers.get(task.routing_target or "")
        if worker is not None:
            data.update(worker_data(worker.worker, tx.index))
        tx.emit_about_task(
            EventType.RESERVATION_FAILED, task,
            f"Reservation for Task {task.sid} failed: {ROUTING_TARGET_SLA_MISSED}", data,
            worker_sid=task.routing_target,
        )  # fmt: skip

    def advance(self, tx: Tx, task: Task) -> None:
        """The task's step timed out while it waited: on to the next step."""
        if task.routing_target is not None:
            self._miss_sla(tx, task)
            return
        flow = tx.index.work.workflows.get(task.workflow_sid or "")
        step = self._step_of(tx, task)
        if flow is None or step is None:
            return
        self.emit_task(
            tx,
            EventType.TASK_QUEUE_TIMEOUT,
            task,
            f"Task {task.sid} timed out of TaskQueue {task.task_queue_sid}",
        )
        doc = filter_document(tx.index.work.tasks[task.sid].doc, tx.now)
        self._enter_step(
            tx, task.sid, next_step(flow.config, doc, step, task.date_created, skipped=False)
        )

    # -- reserving ----------------------------------------------------------------------------

    def route_task(self, tx: Tx, task_sid: str, *, entering: bool = False) -> bool:
        """Offer a pending task to the best eligible workers of its step; True if reserved."""
        entry = tx.index.work.tasks.get(task_sid)
        if entry is None or entry.task.assignment_status != TaskStatus.PENDING:
            return False
        task = entry.task
        if not entering and task.step_deadline is not None and task.step_deadline <= tx.now:
            self.advance(tx, task)
            return entry.task.assignment_status != TaskStatus.PENDING
        target = self.target(tx, task)
        queue = tx.index.queues.get(task.task_queue_sid or "")
        if target is None or queue is None:
            return False
        workers = self._pick_workers(tx, entry, target, queue.queue.max_reserved_workers)
        if not workers:
            return False
        self._reserve(tx, entry, workers)
        return True

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

    def _pick_workers(self, tx: Tx, entry: TaskEntry, target: Target, limit: int) -> list[str]:
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
            found = [sid for sid in members if eligible(sid)]
            found.sort(
                key=lambda sid: (
                    order_key(target.order_by, tx.index.workers[sid].doc),
                    work.idle_since.get(sid, 0),
                    sid,
                )
            )
            return found[:limit]
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

    def _reserve(self, tx: Tx, entry: TaskEntry, worker_sids: list[str]) -> None:
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
        self.save_task(tx, task)
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
            self.save_reservation(tx, reservation, new=True)
            if transfer is not None:
                self.transfers.link(tx, transfer, reservation.sid)
            if not tx.workspace.multi_task_enabled:
                self.set_activity(tx, worker_sid, queue.reservation_activity_sid)
            # After the activity's own change and event, whose version the SDK reads.
            self.count_on_worker(tx, worker_sid)
            self.emit_reservation(tx, EventType.RESERVATION_CREATED, reservation, task, "created")
            if workflow and workflow.assignment_callback_url:
                self.store.assignment_callbacks.insert(
                    task.workspace_sid, reservation.sid, tx.now, tx.now
                )
                tx.callbacks.append(reservation.sid)

    def emit_reservation(
        self, tx: Tx, event: str, reservation: Reservation, task: Task, verb: str
    ) -> None:
        worker = tx.index.workers.get(reservation.worker_sid)
        data = task_data(task, tx.index, tx.now)
        data.update(reservation_data(reservation))
        if worker is not None:
            data.update(worker_data(worker.worker, tx.index))
        tx.emit(
            event,
            resource_type="reservation",
            resource_sid=reservation.sid,
            description=f"Reservation {reservation.sid} {verb}",
            data=data,
            task_sid=task.sid,
            worker_sid=reservation.worker_sid,
            reservation_sid=reservation.sid,
            task_queue_sid=reservation.task_queue_sid,
            workflow_sid=task.workflow_sid,
            task_channel_sid=task.task_channel_sid,
        )

    def fill_worker(self, tx: Tx, worker_sid: str) -> None:
        """Give the worker the best waiting tasks it can take, while it has room."""
        if not tx.index.work.has_room(worker_sid):
            return  # unavailable, or no room on any channel: nothing to look for
        for _ in range(100):  # bounded: each round reserves one task or stops
            task_sid = self._best_task_for(tx, worker_sid)
            if task_sid is None:
                return
            entry = tx.index.work.tasks[task_sid]
            target = self.target(tx, entry.task)
            queue = tx.index.queues[entry.task.task_queue_sid or ""].queue
            others = []
            if queue.max_reserved_workers > 1 and target is not None:
                others = [
                    s
                    for s in self._pick_workers(tx, entry, target, queue.max_reserved_workers)
                    if s != worker_sid
                ][: queue.max_reserved_workers - 1]
            self._reserve(tx, entry, [worker_sid, *others])

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
                target = self.target(tx, entry.task)
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

    def fill_queue(self, tx: Tx, queue_sid: str) -> None:
        """Offer a queue's waiting tasks again (its members or settings changed)."""
        for _, task_sid in list(tx.index.work.waiting.get(queue_sid, [])):
            self.route_task(tx, task_sid)

    # -- ending reservations and tasks --------------------------------------------------------

    def close_reservation(
        self, tx: Tx, reservation: Reservation, status: ReservationStatus,
        *, instruction: str | None = None,
    ) -> Reservation:  # fmt: skip
        closed = evolve(
            reservation,
            reservation_status=status,
            timeout_deadline=None,
            date_updated=tx.now,
            version=reservation.version + 1,
            instruction=instruction if instruction is not None else reservation.instruction,
        )
        self.save_reservation(tx, closed)
        return closed

    def release(self, tx: Tx, reservation: Reservation) -> None:
        """A pending offer was withdrawn (rescinded or canceled): a single-tasking worker parked
        in the queue's reservation activity goes back to the activity it had before."""
        if tx.workspace.multi_task_enabled:
            return
        queue = tx.index.queues.get(reservation.task_queue_sid or "")
        worker = tx.index.workers.get(reservation.worker_sid)
        if queue is None or worker is None or not queue.queue.reservation_activity_sid:
            return
        if worker.worker.activity_sid == queue.queue.reservation_activity_sid:
            self.set_activity(tx, reservation.worker_sid, reservation.worker_previous_activity_sid)

    def requeue(self, tx: Tx, task_sid: str, how: str = "rejected") -> None:
        """After a reservation ended unaccepted (`how`: rejected, timed out, canceled): back
        to pending once none is open, then on."""
        entry = tx.index.work.tasks.get(task_sid)
        if (
            entry is None
            or entry.task.assignment_status != TaskStatus.RESERVED
            or self._offered(tx, entry)
        ):
            return
        task = evolve(
            entry.task,
            assignment_status=TaskStatus.PENDING,
            date_updated=tx.now,
            version=entry.task.version + 1,
        )
        if task.assignment_count >= MAX_ASSIGNMENT_COUNT:
            self.save_task(tx, task)
            self.cancel_task(tx, task, MAX_ASSIGNMENTS_EXCEEDED)
            return
        transfer = self.transfers.active(tx, task)
        if transfer is not None:
            self.save_task(tx, task)
            self._transfer_declined(tx, task, transfer, how)
            return
        if task.routing_target is not None:
            # No one else may take a direct task, and offering it again to the worker who
            # just declined or let it lapse would only repeat the offer.
            self.save_task(tx, task)
            self.cancel_task(tx, task, ROUTING_TARGET_DECLINED)
            return
        self.save_task(tx, task)
        self.route_task(tx, task_sid)

    @staticmethod
    def _offered(tx: Tx, entry: TaskEntry) -> bool:
        """Whether the task still has a pending offer (a transferred task's entry also holds
        the wrap-up of the worker who transferred it)."""
        reservations = tx.index.work.reservations
        return any(
            reservations[sid].reservation_status == ReservationStatus.PENDING
            for sid in entry.reservations
        )

    def closed(self, tx: Tx, task: Task, status: TaskStatus, reason: str) -> Task:
        """The task closed now (completed or canceled). Its only deadline left is the end of
        its retention, where one is kept: the TTL column holds it, so the tick that expires
        open tasks also deletes closed ones (`Tasks.expire_task`)."""
        retention = self.closed_task_retention_ms
        return evolve(
            task,
            assignment_status=status,
            reason=reason,
            date_updated=tx.now,
            date_closed=tx.now,
            ttl_deadline=None if retention is None else tx.now + retention,
            step_deadline=None,
            version=task.version + 1,
        )

    def cancel_task(self, tx: Tx, task: Task, reason: str) -> Task:
        """Cancel a pending or reserved task: its pending reservations are canceled."""
        entry = tx.index.work.tasks.get(task.sid)
        workers = []
        for sid in list(entry.reservations if entry else ()):
            reservation = tx.index.work.reservations[sid]
            if reservation.reservation_status != ReservationStatus.PENDING:
                continue  # a transferring worker's wrap-up, which the task left behind
            self.close_reservation(tx, reservation, ReservationStatus.CANCELED)
            self.release(tx, reservation)
            workers.append(reservation.worker_sid)
            self.emit_reservation(tx, EventType.RESERVATION_CANCELED, reservation, task, "canceled")
        transfer = self.transfers.active(tx, task)
        task = self.closed(tx, task, TaskStatus.CANCELED, reason)
        self.save_task(tx, task)
        self.emit_task(tx, EventType.TASK_CANCELED, task, f"Task {task.sid} canceled: {reason}")
        if transfer is not None:
            self.transfers.end(tx, transfer, TransferStatus.FAILED, task, reason)
        for worker_sid in workers:
            self.fill_worker(tx, worker_sid)
        return task

    # -- how transfers end --------------------------------------------------------------------

    def _transfer_declined(self, tx: Tx, task: Task, transfer: Transfer, how: str) -> None:
        """A transfer's offer was declined or lapsed. To a worker, that was its one chance;
        to a queue, the task waits there for the next member."""
        if transfer.transfer_type == "WORKER":
            self._transfer_failed(tx, task, transfer, TRANSFER_DECLINED.format(how=how))
            return
        self.transfers.attempt_failed(tx, transfer, task, TRANSFER_ATTEMPT_DECLINED.format(how=how))
        self.route_task(tx, task.sid)

    def _transfer_failed(self, tx: Tx, task: Task, transfer: Transfer, reason: str) -> None:
        """The transfer failed: the task goes back to the workflow that first routed it, as
        TaskRouter does ("routed to another Agent using the Workflow that found you")."""
        self.transfers.end(tx, transfer, TransferStatus.FAILED, task, reason)
        self.back_to_workflow(tx, task)

    def back_to_workflow(self, tx: Tx, task: Task) -> None:
        """A pending task leaves the transfer's step and runs through its workflow again."""
        current = tx.index.work.tasks[task.sid].task
        task = evolve(
            current,
            routing_target=None,
            ignore_capacity=None,
            filter_index=None,
            target_index=None,
            step_deadline=None,
            date_updated=tx.now,
            version=current.version + 1,
        )
        self.save_task(tx, task)
        self._run_workflow(tx, task)
