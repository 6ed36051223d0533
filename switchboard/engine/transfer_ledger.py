"""The records and events of task transfers, inside the engine's writes.

The dispatcher asks `active` whenever a task that was ever transferred (`Task.transfer_sid`)
is offered, declined, accepted or canceled, and reports the outcome here; `engine/transfers.py`
opens and cancels transfers. A task never transferred costs nothing: no read is made for it.
"""

from __future__ import annotations

from typing import Any

from switchboard.engine.event_data import task_data
from switchboard.engine.tx import Tx
from switchboard.events import EventType
from switchboard.models import Task, Transfer, TransferStatus, evolve
from switchboard.storage import Store

_EVENT = {
    TransferStatus.INITIATED: EventType.TASK_TRANSFER_INITIATED,
    TransferStatus.FAILED: EventType.TASK_TRANSFER_FAILED,
    TransferStatus.COMPLETE: EventType.TASK_TRANSFER_COMPLETED,
    TransferStatus.CANCELED: EventType.TASK_TRANSFER_CANCELED,
}


def transfer_data(transfer: Transfer) -> dict[str, Any]:
    """A transfer's fields in an event's data (the task's are beside them)."""
    return {
        "transfer_sid": transfer.sid,
        "transfer_type": transfer.transfer_type,
        "transfer_mode": transfer.transfer_mode,
        "transfer_to": transfer.transfer_to,
        "transfer_status": transfer.transfer_status.value,
        "transfer_failed_reason": transfer.transfer_failed_reason,
        "transfer_initiating_reservation_sid": transfer.initiating_reservation_sid,
        "transfer_initiating_worker_sid": transfer.initiating_worker_sid,
        "transfer_initiating_queue_sid": transfer.initiating_queue_sid,
        "transfer_initiating_workflow_sid": transfer.initiating_workflow_sid,
    }


class TransferLedger:
    def __init__(self, store: Store) -> None:
        self.store = store

    def active(self, tx: Tx, task: Task) -> Transfer | None:
        """The task's transfer while it is still under way (initiated)."""
        if task.transfer_sid is None:
            return None
        transfer = self.store.transfers.get(tx.workspace.sid, task.transfer_sid)
        if transfer is None or transfer.transfer_status != TransferStatus.INITIATED:
            return None
        return transfer

    def open(self, tx: Tx, transfer: Transfer, task: Task) -> None:
        self.store.transfers.insert(transfer, tx.seq)
        self._emit(tx, _EVENT[TransferStatus.INITIATED], transfer, task, "initiated")

    def link(self, tx: Tx, transfer: Transfer, reservation_sid: str) -> None:
        self.store.transfers.link(tx.workspace.sid, transfer.sid, reservation_sid, tx.seq)

    def end(
        self, tx: Tx, transfer: Transfer, status: TransferStatus, task: Task,
        reason: str | None = None,
    ) -> Transfer:  # fmt: skip
        """The transfer is over: complete, failed (with why) or canceled."""
        ended = evolve(
            transfer, transfer_status=status, transfer_failed_reason=reason, date_updated=tx.now
        )
        self.store.transfers.update(ended, tx.seq)
        self._emit(tx, _EVENT[status], ended, task, status.value)
        return ended

    def attempt_failed(self, tx: Tx, transfer: Transfer, task: Task, reason: str) -> Transfer:
        """One offer of a transfer to a queue went unanswered; the transfer goes on."""
        tried = evolve(transfer, transfer_failed_reason=reason, date_updated=tx.now)
        self.store.transfers.update(tried, tx.seq)
        self._emit(tx, EventType.TASK_TRANSFER_ATTEMPT_FAILED, tried, task, "attempt failed")
        return tried

    def _emit(self, tx: Tx, event: str, transfer: Transfer, task: Task, verb: str) -> None:
        # Filed under the initiating worker and reservation: the worker SDK pushes a
        # transfer's events to the worker who started it (its OutgoingTransfer).
        tx.emit_about_task(
            event, task, f"Transfer {transfer.sid} of Task {task.sid} {verb}",
            {**task_data(task, tx.index, tx.now), **transfer_data(transfer)},
            worker_sid=transfer.initiating_worker_sid,
            reservation_sid=transfer.initiating_reservation_sid,
        )  # fmt: skip
