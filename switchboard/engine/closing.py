"""Closing tasks inside a write: the record of a task closed now (completed or canceled), and
the cancelling of an open one, whose pending offers are withdrawn and whose transfer fails."""

from __future__ import annotations

from switchboard.engine.offers import Offers
from switchboard.engine.records import Records
from switchboard.engine.transfer_ledger import TransferLedger
from switchboard.engine.tx import Tx
from switchboard.engine.worker_changes import WorkerChanges
from switchboard.events import EventType
from switchboard.models import ReservationStatus, Task, TaskStatus, TransferStatus, evolve


class Closing:
    """Closes tasks; a canceled task's withdrawn workers are offered other work (`offers`)."""

    def __init__(
        self,
        records: Records,
        worker_changes: WorkerChanges,
        offers: Offers,
        transfers: TransferLedger,
        closed_task_retention_ms: int | None = None,
    ) -> None:
        self.records = records
        self.worker_changes = worker_changes
        self.offers = offers
        self.transfers = transfers
        self.closed_task_retention_ms = closed_task_retention_ms

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
            self.records.close_reservation(tx, reservation, ReservationStatus.CANCELED)
            self.worker_changes.release(tx, reservation)
            workers.append(reservation.worker_sid)
            self.records.emit_reservation(
                tx, EventType.RESERVATION_CANCELED, reservation, task, "canceled"
            )
        transfer = self.transfers.active(tx, task)
        task = self.closed(tx, task, TaskStatus.CANCELED, reason)
        self.records.save_task(tx, task)
        self.records.emit_task(
            tx, EventType.TASK_CANCELED, task, f"Task {task.sid} canceled: {reason}"
        )
        if transfer is not None:
            self.transfers.end(tx, transfer, TransferStatus.FAILED, task, reason)
        for worker_sid in workers:
            self.offers.fill_worker(tx, worker_sid)
        return task
