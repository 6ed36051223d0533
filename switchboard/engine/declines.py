"""What follows when a task's offers have all ended unaccepted (rejected, timed out, canceled):
back to pending and offered on; canceled after its last allowed assignment, or when the one
worker of a direct task declined it; for a task being transferred, the transfer's attempt or
the transfer itself failed.

A task being transferred (the worker SDK's `Task.transfer`, engine/transfers.py) waits for a
worker as a direct task of that worker, or in a queue for any of its members. How the
transfer ends is decided where its offers end: here (`requeue`), in `Closing.cancel_task`,
and on an accept in the reservations' `_accept`.
"""

from __future__ import annotations

from switchboard.engine.closing import Closing
from switchboard.engine.reasons import (
    MAX_ASSIGNMENTS_EXCEEDED,
    ROUTING_TARGET_DECLINED,
    TRANSFER_ATTEMPT_DECLINED,
    TRANSFER_DECLINED,
)
from switchboard.engine.records import Records
from switchboard.engine.steps import Steps
from switchboard.engine.transfer_ledger import TransferLedger
from switchboard.engine.tx import Tx
from switchboard.engine.work import TaskEntry
from switchboard.models import (
    MAX_ASSIGNMENT_COUNT,
    ReservationStatus,
    Task,
    TaskStatus,
    Transfer,
    TransferStatus,
    evolve,
)


class Declines:
    """Takes a task on after its offers ended unaccepted: through `steps` again, or closed by
    `closing`, its transfer's outcome recorded in the `transfers` ledger."""

    def __init__(
        self, records: Records, steps: Steps, closing: Closing, transfers: TransferLedger
    ) -> None:
        self.records = records
        self.steps = steps
        self.closing = closing
        self.transfers = transfers

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
            self.records.save_task(tx, task)
            self.closing.cancel_task(tx, task, MAX_ASSIGNMENTS_EXCEEDED)
            return
        transfer = self.transfers.active(tx, task)
        if transfer is not None:
            self.records.save_task(tx, task)
            self._transfer_declined(tx, task, transfer, how)
            return
        if task.routing_target is not None:
            # No one else may take a direct task, and offering it again to the worker who
            # just declined or let it lapse would only repeat the offer.
            self.records.save_task(tx, task)
            self.closing.cancel_task(tx, task, ROUTING_TARGET_DECLINED)
            return
        self.records.save_task(tx, task)
        self.steps.route_task(tx, task_sid)

    @staticmethod
    def _offered(tx: Tx, entry: TaskEntry) -> bool:
        """Whether the task still has a pending offer (a transferred task's entry also holds
        the wrap-up of the worker who transferred it)."""
        reservations = tx.index.work.reservations
        return any(
            reservations[sid].reservation_status == ReservationStatus.PENDING
            for sid in entry.reservations
        )

    def _transfer_declined(self, tx: Tx, task: Task, transfer: Transfer, how: str) -> None:
        """A transfer's offer was declined or lapsed. To a worker, that was its one chance;
        to a queue, the task waits there for the next member."""
        if transfer.transfer_type == "WORKER":
            self._transfer_failed(tx, task, transfer, TRANSFER_DECLINED.format(how=how))
            return
        self.transfers.attempt_failed(tx, transfer, task, TRANSFER_ATTEMPT_DECLINED.format(how=how))
        self.steps.route_task(tx, task.sid)

    def _transfer_failed(self, tx: Tx, task: Task, transfer: Transfer, reason: str) -> None:
        """The transfer failed: the task goes back to the workflow that first routed it, as
        TaskRouter does ("routed to another Agent using the Workflow that found you")."""
        self.transfers.end(tx, transfer, TransferStatus.FAILED, task, reason)
        self.steps.back_to_workflow(tx, task)
