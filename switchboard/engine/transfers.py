"""Task transfers: the worker SDK's `Task.transfer` and `OutgoingTransfer.cancel`.

TaskRouter's REST API has no transfers; the SDK posts them to its gateway (v2 calls,
`Workers/{WK}/Transfers`). A cold transfer hands an assigned task on: the transferring
worker's reservation goes to wrapping (it completes it when its wrap-up is done), and the task
is routed again, to one worker as a direct offer or through a queue. How it ends (accepted:
complete; declined: failed, or for a queue an attempt failed) is decided where offers end
(engine/declines.py, engine/closing.py). Warm transfers need a conference call, which
Switchboard does not run. The decisions are in docs/decisions.md.
"""

from __future__ import annotations

import json

from switchboard.engine.core import EngineCore
from switchboard.engine.dispatch import Dispatcher
from switchboard.engine.tasks import Tasks
from switchboard.engine.tx import Tx
from switchboard.errors import InvalidParameter, not_found
from switchboard.events import EventType
from switchboard.models import (
    MAX_ATTRIBUTES_CHARS,
    MAX_PRIORITY,
    Prefix,
    Reservation,
    ReservationStatus,
    Task,
    TaskStatus,
    Transfer,
    TransferStatus,
    evolve,
    new_sid,
)

WARM_NEEDS_CONFERENCE = (
    "A warm transfer needs a telephone conference, which Switchboard does not run;"
    " transfer with mode COLD (the SDK's default mode is WARM)"
)


class Transfers:
    """CreateTransfer and UpdateTransfer (cancel) of the worker SDK's gateway."""

    def __init__(self, core: EngineCore, dispatcher: Dispatcher, tasks: Tasks) -> None:
        self.core = core
        self.store = core.store
        self.dispatcher = dispatcher
        self.tasks = tasks

    def create_transfer(
        self,
        workspace_sid: str,
        worker_sid: str,
        *,
        task_sid: str,
        reservation_sid: str,
        to: str,
        mode: str | None = None,
        attributes: str | None = None,
        priority: int | None = None,
    ) -> Transfer:
        """`worker_sid`, holding `task_sid` through `reservation_sid`, hands it on to `to`."""
        if (mode or "WARM").upper() != "COLD":
            if (mode or "WARM").upper() == "WARM":
                raise InvalidParameter(WARM_NEEDS_CONFERENCE)
            raise InvalidParameter(f"Mode must be COLD or WARM, not {mode!r}")
        with self.core.writing(workspace_sid) as tx:
            reservation = self._held(tx, worker_sid, reservation_sid, task_sid)
            task = self.tasks.task(tx, task_sid)
            if task.assignment_status != TaskStatus.ASSIGNED:
                raise InvalidParameter(
                    f"Task {task_sid} is {task.assignment_status.value}: only an assigned task"
                    " can be transferred"
                )
            if self.dispatcher.transfers.active(tx, task) is not None:
                raise InvalidParameter(f"Task {task_sid} is already being transferred")
            kind = self._kind(tx, worker_sid, to, task.task_channel_sid)
            task = self._apply_options(tx, task, attributes, priority)
            transfer = Transfer(
                new_sid(Prefix.TRANSFER),
                workspace_sid,
                tx.workspace.account_sid,
                task_sid,
                kind,
                "COLD",
                to,
                TransferStatus.INITIATED,
                None,
                reservation.sid,
                worker_sid,
                task.task_queue_sid,
                task.workflow_sid,
                tx.now,
                tx.now,
            )
            self._wrap_up(tx, reservation, task)
            task = self._reroute(tx, task, transfer)
            self.dispatcher.transfers.open(tx, transfer, task)
            if kind == "QUEUE" and task.task_queue_sid != transfer.initiating_queue_sid:
                queue = tx.index.queues[to].queue
                self.dispatcher.emit_task(
                    tx,
                    EventType.TASK_QUEUE_ENTERED,
                    task,
                    f"Task {task.sid} entered TaskQueue {queue.friendly_name}",
                )
            self.dispatcher.route_task(tx, task.sid, entering=True)
        found = self.store.transfers.get(workspace_sid, transfer.sid)
        assert found is not None
        return found

    def cancel_transfer(
        self, workspace_sid: str, worker_sid: str, sid: str, *, task_sid: str, status: str
    ) -> Transfer:
        """The initiating worker takes its transfer back while it is under way: its pending
        offers are canceled and the task goes back to its workflow."""
        if status != TransferStatus.CANCELED.value:
            raise InvalidParameter(f"TransferStatus must be canceled, not {status!r}")
        with self.core.writing(workspace_sid) as tx:
            transfer = self.store.transfers.get(workspace_sid, sid)
            if transfer is None or transfer.initiating_worker_sid != worker_sid:
                raise not_found(f"/Workspaces/{workspace_sid}/Workers/{worker_sid}/Transfers/{sid}")
            if transfer.task_sid != task_sid:
                raise InvalidParameter(
                    f"Transfer {sid} is of Task {transfer.task_sid}, not {task_sid}"
                )
            if transfer.transfer_status != TransferStatus.INITIATED:
                raise InvalidParameter(
                    f"Transfer {sid} is {transfer.transfer_status.value}: only an initiated"
                    " transfer can be canceled"
                )
            task = self.tasks.task(tx, task_sid)
            freed = self._withdraw_offers(tx, task)
            task = self.tasks.task(tx, task_sid)
            self.dispatcher.transfers.end(tx, transfer, TransferStatus.CANCELED, task)
            self.dispatcher.back_to_workflow(tx, task)
            for worker in freed:
                self.dispatcher.fill_worker(tx, worker)
        found = self.store.transfers.get(workspace_sid, sid)
        assert found is not None
        return found

    # -- the steps ------------------------------------------------------------------------------

    def _held(self, tx: Tx, worker_sid: str, reservation_sid: str, task_sid: str) -> Reservation:
        reservation = tx.index.work.reservations.get(reservation_sid) or (
            self.store.reservations.get(tx.workspace.sid, reservation_sid)
        )
        if reservation is None or reservation.worker_sid != worker_sid:
            raise not_found(
                f"/Workspaces/{tx.workspace.sid}/Workers/{worker_sid}/Reservations/{reservation_sid}"
            )
        if reservation.task_sid != task_sid:
            raise InvalidParameter(
                f"Reservation {reservation_sid} is for Task {reservation.task_sid}, not {task_sid}"
            )
        if reservation.reservation_status != ReservationStatus.ACCEPTED:
            raise InvalidParameter(
                f"Reservation {reservation_sid} is {reservation.reservation_status.value}: only"
                " an accepted reservation's task can be transferred"
            )
        return reservation

    def _kind(self, tx: Tx, worker_sid: str, to: str, channel_sid: str) -> str:
        """WORKER or QUEUE, after checking the target can be handed the task."""
        target = tx.index.workers.get(to)
        if target is not None:
            if to == worker_sid:
                raise InvalidParameter("A worker cannot transfer a task to itself")
            if not self.dispatcher.can_take(tx, to, channel_sid):
                raise InvalidParameter(
                    f"Worker {to} ({target.worker.friendly_name}) is not available to take"
                    " a transfer: its activity is unavailable or it has no room for the task"
                )
            return "WORKER"
        if to in tx.index.queues:
            return "QUEUE"
        raise InvalidParameter(f"To {to!r} is neither a worker nor a task queue of this workspace")

    def _apply_options(
        self, tx: Tx, task: Task, attributes: str | None, priority: int | None
    ) -> Task:
        """The transfer's new attributes and priority for the task (TransferOptions)."""
        changes: dict[str, object] = {}
        if attributes is not None:
            if len(attributes) > MAX_ATTRIBUTES_CHARS:
                raise InvalidParameter(
                    f"Attributes is {len(attributes)} characters long; at most"
                    f" {MAX_ATTRIBUTES_CHARS} are allowed"
                )
            try:
                document = json.loads(attributes)
            except (json.JSONDecodeError, RecursionError):
                document = None
            if not isinstance(document, dict):
                raise InvalidParameter("Attributes must be a JSON object")
            if attributes != task.attributes:
                changes["attributes"] = attributes
        if priority is not None:
            if not 0 <= priority <= MAX_PRIORITY:
                raise InvalidParameter(f"Priority must be from 0 to {MAX_PRIORITY}, not {priority}")
            changes["priority"] = priority
        if not changes:
            return task
        task = evolve(task, date_updated=tx.now, version=task.version + 1, **changes)
        self.dispatcher.save_task(tx, task)
        self.dispatcher.emit_task(tx, EventType.TASK_UPDATED, task, f"Task {task.sid} updated")
        return task

    def _wrap_up(self, tx: Tx, reservation: Reservation, task: Task) -> None:
        """The transferring worker's reservation wraps up; it still holds the worker's
        capacity until the worker completes it."""
        wrapping = self.dispatcher.close_reservation(tx, reservation, ReservationStatus.WRAPPING)
        self.dispatcher.emit_reservation(
            tx, EventType.RESERVATION_WRAPUP, wrapping, task, "wrapping up"
        )

    def _reroute(self, tx: Tx, task: Task, transfer: Transfer) -> Task:
        """The task waits again: for the one worker (a direct offer in the queue it was in,
        made at once: the worker was checked to have room), or in the target queue for any
        member. Its TTL runs again from now, as for a new task."""
        to_worker = transfer.transfer_type == "WORKER"
        queue_sid = task.task_queue_sid if to_worker else transfer.transfer_to
        task = evolve(
            task,
            assignment_status=TaskStatus.PENDING,
            routing_target=transfer.transfer_to if to_worker else None,
            ignore_capacity=None,
            filter_index=None,
            target_index=None,
            task_queue_sid=queue_sid,
            task_queue_entered_date=(
                tx.now if queue_sid != task.task_queue_sid else task.task_queue_entered_date
            ),
            step_deadline=None,
            ttl_deadline=tx.now + task.timeout * 1000,
            transfer_sid=transfer.sid,
            date_updated=tx.now,
            version=task.version + 1,
        )
        return self.dispatcher.save_task(tx, task)

    def _withdraw_offers(self, tx: Tx, task: Task) -> list[str]:
        """Cancel the transfer's pending offers; the workers they were made to."""
        freed = []
        for reservation in self.tasks.open_reservations(tx, task.sid, ReservationStatus.PENDING):
            closed = self.dispatcher.close_reservation(tx, reservation, ReservationStatus.CANCELED)
            self.dispatcher.release(tx, reservation)
            self.dispatcher.emit_reservation(
                tx, EventType.RESERVATION_CANCELED, closed, task, "canceled"
            )
            freed.append(reservation.worker_sid)
        if freed:
            current = self.tasks.task(tx, task.sid)
            self.dispatcher.save_task(
                tx,
                evolve(
                    current,
                    assignment_status=TaskStatus.PENDING,
                    date_updated=tx.now,
                    version=current.version + 1,
                ),
            )
        return freed
