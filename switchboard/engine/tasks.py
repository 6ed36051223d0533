"""Task operations: create (and route), update (status, attributes, priority…), delete."""

from __future__ import annotations

from typing import NamedTuple

from switchboard.engine.core import EngineCore, version_matches
from switchboard.engine.dispatch import Dispatcher
from switchboard.engine.reasons import TTL_EXCEEDED
from switchboard.engine.tx import Tx
from switchboard.errors import Conflict, InvalidParameter, PreconditionFailed, not_found
from switchboard.events import EventType
from switchboard.models import (
    CLIENT_TASK_STATUSES,
    DEFAULT_TASK_TIMEOUT,
    MAX_PRIORITY,
    MAX_TASK_TIMEOUT,
    TASK_TRANSITIONS,
    Prefix,
    Reservation,
    ReservationStatus,
    Task,
    TaskStatus,
    evolve,
    new_sid,
)

# 1900-01-01T00:00:00Z: the earliest virtual start time TaskRouter accepts.
EARLIEST_START_MS = -2_208_988_800_000


class _Direct(NamedTuple):
    """Where and how a task created with a worker RoutingTarget is offered."""

    queue_sid: str
    ignore_capacity: bool
    deadline: int | None  # when it must have been offered (None: at once, it always is)


class Tasks:
    """CreateTask, UpdateTask and DeleteTask, and the steps of a task's lifecycle that
    reservations share (wrap up, complete, expire)."""

    def __init__(self, core: EngineCore, dispatcher: Dispatcher) -> None:
        self.core = core
        self.store = core.store
        self.dispatcher = dispatcher

    def task(self, tx: Tx, sid: str) -> Task:
        entry = tx.index.work.tasks.get(sid)
        if entry is not None:
            return entry.task
        task = self.store.tasks.get(tx.workspace.sid, sid)
        if task is None:
            raise not_found(f"/Workspaces/{tx.workspace.sid}/Tasks/{sid}")
        return task

    def _channel_sid(self, tx: Tx, sid_or_name: str) -> str:
        for channel in tx.index.channels.values():
            if sid_or_name in (channel.sid, channel.unique_name):
                return channel.sid
        raise InvalidParameter(
            f"TaskChannel {sid_or_name!r} is not a task channel of this workspace"
        )

    def _check_task_limit(self, workspace_sid: str) -> None:
        """A 400 (20001) like the other count limits: Twilio documents no code of its own."""
        limit = self.core.limits.max_tasks_per_workspace
        if limit is not None and self.store.tasks.count(workspace_sid) >= limit:
            raise InvalidParameter(
                f"Workspace {workspace_sid} already has {limit} tasks, the most Twilio allows;"
                " delete some first (enforced by --limits twilio)"
            )

    def create_task(
        self,
        workspace_sid: str,
        *,
        attributes: str = "{}",
        workflow_sid: str | None = None,
        priority: int | None = None,
        timeout: int | None = None,
        task_channel: str | None = None,
        virtual_start_time: int | None = None,
        routing_target: str | None = None,
        task_queue_sid: str | None = None,
        ignore_capacity: bool | None = None,
    ) -> Task:
        """A new pending task, run through its workflow at once (it may leave reserved).

        Without a workflow SID the workspace's only workflow is used. With a worker
        `routing_target` (and the `task_queue_sid` it is taken in) the workflow is not
        evaluated: the task is offered to that worker only; `ignore_capacity` (default true)
        offers it even when the worker is unavailable or full."""
        with self.core.writing(workspace_sid) as tx:
            self._check_task_limit(workspace_sid)
            workflow = self._task_workflow(tx, workflow_sid)
            start = self._virtual_start(tx, virtual_start_time)
            ttl = DEFAULT_TASK_TIMEOUT if timeout is None else timeout
            if not 1 <= ttl <= MAX_TASK_TIMEOUT:
                raise InvalidParameter(
                    f"Timeout must be from 1 to {MAX_TASK_TIMEOUT} seconds, not {ttl}"
                )
            direct = self._direct(tx, routing_target, task_queue_sid, ignore_capacity, workflow)
            task = Task(
                new_sid(Prefix.TASK),
                workspace_sid,
                tx.workspace.account_sid,
                workflow,
                self._channel_sid(tx, task_channel or "default"),
                attributes,
                TaskStatus.PENDING,
                _priority(priority or 0),
                ttl,
                None,
                None,
                routing_target if direct is not None else None,
                direct.ignore_capacity if direct is not None else None,
                start,
                tx.now,
                tx.now,
                None,
                0,
                task_queue_sid=direct.queue_sid if direct is not None else None,
                task_queue_entered_date=tx.now if direct is not None else None,
                step_deadline=direct.deadline if direct is not None else None,
                ttl_deadline=tx.now + ttl * 1000,
            )
            self.dispatcher.save_task(tx, task, new=True)
            self.dispatcher.emit_task(tx, EventType.TASK_CREATED, task, f"Task {task.sid} created")
            if direct is not None:
                self.dispatcher.start_direct(tx, task)
            else:
                self.dispatcher.start_workflow(tx, task)
        return self._task_after(tx, task.sid)

    def _direct(
        self, tx: Tx, worker_sid: str | None, queue_sid: str | None,
        ignore_capacity: bool | None, workflow_sid: str,
    ) -> _Direct | None:  # fmt: skip
        """Check a direct routing request: a worker of this workspace, in a queue of this
        workspace whose target_workers select it. Without a RoutingTarget there is none
        (TaskQueueSid alone is refused: it routes nothing)."""
        if worker_sid is None:
            if queue_sid is not None:
                raise InvalidParameter(
                    "TaskQueueSid only goes with a worker RoutingTarget (direct routing);"
                    " without one the workflow chooses the queue"
                )
            return None
        worker = tx.index.workers.get(worker_sid)
        if worker is None:
            raise InvalidParameter(f"RoutingTarget {worker_sid} is not a worker of this workspace")
        if queue_sid is None:
            raise InvalidParameter(
                "Missing required parameter TaskQueueSid: a task routed to a worker"
                " (RoutingTarget) needs the queue it is taken in"
            )
        if queue_sid not in tx.index.queues:
            raise InvalidParameter(
                f"TaskQueueSid {queue_sid} is not a task queue of this workspace"
            )
        if not tx.index.is_member(queue_sid, worker_sid):
            raise InvalidParameter(
                f"RoutingTarget {worker_sid} ({worker.worker.friendly_name}) is not in"
                f" TaskQueueSid {queue_sid}: the queue's target_workers do not select it"
            )
        ignore = True if ignore_capacity is None else ignore_capacity
        # With IgnoreCapacity the offer is made at once; otherwise the task may wait for the
        # worker as long as the workflow gives a worker to answer an offer.
        timeout_s = tx.index.work.workflows[workflow_sid].workflow.task_reservation_timeout
        deadline = None if ignore else tx.now + timeout_s * 1000
        return _Direct(queue_sid, ignore, deadline)

    def _task_after(self, tx: Tx, sid: str) -> Task:
        """The task as committed, with its joined names: as this write saved it, named from
        the index, without reading it back (a round trip on PostgreSQL); read back when the
        write did not save it or a name is not in the index."""
        saved = tx.saved_tasks.get(sid)
        if saved is not None and (named := _named(tx, saved)) is not None:
            return named
        task = self.store.tasks.get(tx.workspace.sid, sid)
        if task is None:
            raise not_found(f"/Workspaces/{tx.workspace.sid}/Tasks/{sid}")
        return task

    def _task_workflow(self, tx: Tx, workflow_sid: str | None) -> str:
        workflows = tx.index.work.workflows
        if workflow_sid is None:
            if len(workflows) != 1:
                raise InvalidParameter(
                    "Missing required parameter WorkflowSid: the workspace has "
                    f"{len(workflows)} workflows, so the task must name one"
                )
            return next(iter(workflows))
        if workflow_sid not in workflows:
            raise InvalidParameter(
                f"WorkflowSid {workflow_sid} is not a workflow of this workspace"
            )
        return workflow_sid

    def _virtual_start(self, tx: Tx, value: int | None) -> int:
        if value is None:
            return tx.now
        if value > tx.now:
            raise InvalidParameter("VirtualStartTime must not be in the future")
        if value < EARLIEST_START_MS:
            raise InvalidParameter("VirtualStartTime must not be before 1900")
        return value

    def update_task(
        self,
        workspace_sid: str,
        sid: str,
        *,
        if_match: str | None = None,
        assignment_status: TaskStatus | None = None,
        reason: str | None = None,
        attributes: str | None = None,
        priority: int | None = None,
        task_channel: str | None = None,
        virtual_start_time: int | None = None,
    ) -> Task:
        """Change a task. A status change to canceled, wrapping or completed follows the task
        lifecycle; new attributes of a pending task route it again from its first filter."""
        with self.core.writing(workspace_sid) as tx:
            task = self.task(tx, sid)
            if not version_matches(if_match, task.version):
                raise PreconditionFailed(
                    f"If-Match {if_match} does not match the task's version {task.version}"
                )
            if assignment_status in (TaskStatus.WRAPPING, TaskStatus.COMPLETED) and attributes:
                raise InvalidParameter(
                    "Change AssignmentStatus to wrapping or completed and Attributes"
                    " in two requests"
                )
            task = self._update_fields(
                tx, task, attributes, priority, task_channel, virtual_start_time
            )
            if assignment_status is not None:
                task = self._change_status(tx, task, assignment_status, reason)
        return self._task_after(tx, sid)

    def _update_fields(
        self, tx: Tx, task: Task, attributes: str | None, priority: int | None,
        task_channel: str | None, virtual_start_time: int | None,
    ) -> Task:  # fmt: skip
        changes: dict[str, object] = {}
        if attributes is not None and attributes != task.attributes:
            changes["attributes"] = attributes
        if priority is not None:
            _priority(priority)
            # A target that sets a priority keeps it (Twilio: "unless it matches a Workflow
            # Target with a Priority set").
            target = self.dispatcher.target(tx, task)
            if target is None or target.priority is None:
                changes["priority"] = priority
        if task_channel is not None:
            changes["task_channel_sid"] = self._channel_sid(tx, task_channel)
        if virtual_start_time is not None:
            changes["virtual_start_time"] = self._virtual_start(tx, virtual_start_time)
        if not changes:
            return task
        if task.assignment_status in (TaskStatus.CANCELED, TaskStatus.COMPLETED):
            raise Conflict(f"Task {task.sid} is {task.assignment_status.value} and cannot change")
        task = evolve(task, date_updated=tx.now, version=task.version + 1, **changes)
        self.dispatcher.save_task(tx, task)
        self.dispatcher.emit_task(tx, EventType.TASK_UPDATED, task, f"Task {task.sid} updated")
        if "attributes" in changes and task.assignment_status == TaskStatus.PENDING:
            self.dispatcher.start_workflow(tx, task)
        elif task.assignment_status == TaskStatus.PENDING:
            self.dispatcher.route_task(tx, task.sid)
        return tx.index.work.tasks[task.sid].task if task.sid in tx.index.work.tasks else task

    def _change_status(self, tx: Tx, task: Task, status: TaskStatus, reason: str | None) -> Task:
        """A client's AssignmentStatus: one of the lifecycle's steps a client may take
        (TASK_TRANSITIONS into CLIENT_TASK_STATUSES); the others are the engine's own."""
        current = task.assignment_status
        if status == current:
            return task
        if status not in CLIENT_TASK_STATUSES or status not in TASK_TRANSITIONS[current]:
            if status == TaskStatus.CANCELED:
                raise InvalidParameter(
                    f"Cannot cancel task {task.sid} in workspace {task.workspace_sid} for account "
                    f"{task.account_sid} because it is not pending or reserved"
                )
            raise InvalidParameter(
                f"Task {task.sid} is {current.value} and cannot become {status.value}"
                " (only pending or reserved tasks can be canceled; only assigned tasks can wrap"
                " up; only assigned or wrapping tasks can be completed)"
            )
        if status == TaskStatus.CANCELED:
            return self.dispatcher.cancel_task(tx, task, reason or "Task canceled")
        if status == TaskStatus.WRAPPING:
            return self.wrap_task(tx, task)
        return self.complete_task(tx, task, reason or "Task completed")

    def wrap_task(self, tx: Tx, task: Task, *, new_version: bool = True) -> Task:
        task = evolve(
            task,
            assignment_status=TaskStatus.WRAPPING,
            date_updated=tx.now,
            version=task.version + 1 if new_version else task.version,
        )
        self.dispatcher.save_task(tx, task)
        self.dispatcher.emit_task(tx, EventType.TASK_WRAPUP, task, f"Task {task.sid} wrapping up")
        for reservation in self.open_reservations(tx, task.sid, ReservationStatus.ACCEPTED):
            closed = self.dispatcher.close_reservation(tx, reservation, ReservationStatus.WRAPPING)
            self.dispatcher.emit_reservation(
                tx, EventType.RESERVATION_WRAPUP, closed, task, "wrapping up"
            )
        return task

    def complete_task(self, tx: Tx, task: Task, reason: str) -> Task:
        task = self.dispatcher.closed(tx, task, TaskStatus.COMPLETED, reason)
        open_ones = self.holders(tx, task)
        self.dispatcher.save_task(tx, task)
        self.dispatcher.emit_task(tx, EventType.TASK_COMPLETED, task, f"Task {task.sid} completed")
        for reservation in open_ones:
            closed = self.dispatcher.close_reservation(tx, reservation, ReservationStatus.COMPLETED)
            self.dispatcher.emit_reservation(
                tx, EventType.RESERVATION_COMPLETED, closed, task, "completed"
            )
            self.dispatcher.fill_worker(tx, reservation.worker_sid)
        return task

    def holders(self, tx: Tx, task: Task) -> list[Reservation]:
        """The accepted or wrapping reservations that hold the task. Of a transferred task,
        only the newest: the workers who transferred it keep their reservations wrapping up
        until they complete them themselves."""
        held = self.open_reservations(
            tx, task.sid, ReservationStatus.ACCEPTED, ReservationStatus.WRAPPING
        )
        return held[-1:] if task.transfer_sid is not None else held

    def holds(self, tx: Tx, task: Task, reservation: Reservation) -> bool:
        """Whether completing `reservation` completes its task."""
        if task.assignment_status not in (TaskStatus.ASSIGNED, TaskStatus.WRAPPING):
            return False
        return any(r.sid == reservation.sid for r in self.holders(tx, task))

    def open_reservations(
        self, tx: Tx, task_sid: str, *statuses: ReservationStatus
    ) -> list[Reservation]:
        """The task's open reservations in one of `statuses`, in SID (creation) order."""
        work = tx.index.work
        entry = work.tasks.get(task_sid)
        sids = sorted(entry.reservations) if entry else []
        return [r for r in (work.reservations[s] for s in sids) if r.reservation_status in statuses]

    def delete_task(self, workspace_sid: str, sid: str, *, if_match: str | None = None) -> None:
        """Delete a task in any state: pending reservations are canceled, accepted ones
        completed (as TaskRouter does), and the workers freed."""
        with self.core.writing(workspace_sid) as tx:
            task = self.task(tx, sid)
            if not version_matches(if_match, task.version):
                raise PreconditionFailed(
                    f"If-Match {if_match} does not match the task's version {task.version}"
                )
            workers = []
            for reservation in self.open_reservations(
                tx,
                sid,
                ReservationStatus.PENDING,
                ReservationStatus.ACCEPTED,
                ReservationStatus.WRAPPING,
            ):
                pending = reservation.reservation_status == ReservationStatus.PENDING
                status = ReservationStatus.CANCELED if pending else ReservationStatus.COMPLETED
                closed = self.dispatcher.close_reservation(tx, reservation, status)
                event = (
                    EventType.RESERVATION_CANCELED if pending else EventType.RESERVATION_COMPLETED
                )
                self.dispatcher.emit_reservation(tx, event, closed, task, status.value)
                workers.append(reservation.worker_sid)
            self.dispatcher.emit_task(tx, EventType.TASK_DELETED, task, f"Task {task.sid} deleted")
            self.store.reservations.delete_of_task(workspace_sid, sid)
            if task.transfer_sid is not None:
                self.store.transfers.delete_of_task(workspace_sid, sid)
            self.store.tasks.delete(workspace_sid, sid)
            self.store.add_tombstone(workspace_sid, tx.seq, "task", sid)
            tx.dirty = True
            tx.index.work.forget_task(sid)
            for worker_sid in workers:
                self.dispatcher.fill_worker(tx, worker_sid)

    def expire_task(self, tx: Tx, sid: str) -> bool:
        """The task's TTL passed while it was pending or reserved, or the retention of a
        closed task ended. False when there was nothing to do (the deadline is then still to
        be cleared)."""
        entry = tx.index.work.tasks.get(sid)
        if entry is None:
            return self._delete_if_closed(tx, sid)
        if entry.task.assignment_status not in (TaskStatus.PENDING, TaskStatus.RESERVED):
            return False
        self.dispatcher.cancel_task(tx, entry.task, TTL_EXCEEDED)  # clears ttl_deadline
        return True

    def _delete_if_closed(self, tx: Tx, sid: str) -> bool:
        """Delete a completed or canceled task whose retention ended, with its reservations
        (closed too). No event: TaskRouter documents `task.deleted` for API deletes only."""
        task = self.store.tasks.get(tx.workspace.sid, sid)
        if task is None or task.assignment_status not in (
            TaskStatus.COMPLETED,
            TaskStatus.CANCELED,
        ):
            return False
        self.store.reservations.delete_of_task(tx.workspace.sid, sid)
        if task.transfer_sid is not None:
            self.store.transfers.delete_of_task(tx.workspace.sid, sid)
        self.store.tasks.delete(tx.workspace.sid, sid)
        self.store.add_tombstone(tx.workspace.sid, tx.seq, "task", sid)
        tx.dirty = True
        return True


def _priority(value: int) -> int:
    if not 0 <= value <= MAX_PRIORITY:
        raise InvalidParameter(f"Priority must be from 0 to {MAX_PRIORITY}, not {value}")
    return value


def _named(tx: Tx, task: Task) -> Task | None:
    """`task` with the names the database joins to it (workflow, queue, channel), taken from
    the index; None when one of them is not there."""
    workflow = queue = channel = None
    if task.workflow_sid is not None:
        if (wf_entry := tx.index.work.workflows.get(task.workflow_sid)) is None:
            return None
        workflow = wf_entry.workflow.friendly_name
    if task.task_queue_sid is not None:
        if (queue_entry := tx.index.queues.get(task.task_queue_sid)) is None:
            return None
        queue = queue_entry.queue.friendly_name
    if (found := tx.index.channels.get(task.task_channel_sid)) is None:
        return None
    channel = found.unique_name
    return evolve(
        task, workflow_name=workflow, task_queue_name=queue, task_channel_unique_name=channel
    )
