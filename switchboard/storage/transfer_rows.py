"""Task transfers (the worker SDK's `Task.transfer`) and the reservations each one offered.

A collaborator of `Store` (`store.transfers`), written by `engine/transfers.py` inside the
engine's writes (so with the write's change number) and read by the engine and the worker
SDK's payloads (`realtime/payloads.py`).
"""

from __future__ import annotations

from switchboard.models import Transfer
from switchboard.storage.columns import TRANSFER_COLUMNS, TRANSFERS
from switchboard.storage.database import Database
from switchboard.storage.sql import insert_sql

_SELECT = f"SELECT {TRANSFER_COLUMNS} FROM transfers"


class TransferRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, transfer: Transfer, seq: int) -> None:
        self.db.execute(
            insert_sql("transfers", f"{TRANSFER_COLUMNS}, change_seq"),
            (*TRANSFERS.values(transfer), seq),
        )

    def update(self, transfer: Transfer, seq: int) -> None:
        """A transfer's new status (and why it failed), the only things that change."""
        self.db.execute(
            "UPDATE transfers SET transfer_status = ?, transfer_failed_reason = ?,"
            " date_updated = ?, change_seq = ? WHERE sid = ?",
            (
                transfer.transfer_status.value,
                transfer.transfer_failed_reason,
                transfer.date_updated,
                seq,
                transfer.sid,
            ),
        )

    def get(self, workspace_sid: str, sid: str) -> Transfer | None:
        row = self.db.fetchone(
            f"{_SELECT} WHERE workspace_sid = ? AND sid = ?", (workspace_sid, sid)
        )
        return None if row is None else TRANSFERS.record(row)

    def link(self, workspace_sid: str, transfer_sid: str, reservation_sid: str, seq: int) -> None:
        """`reservation_sid` was offered by the transfer."""
        self.db.execute(
            insert_sql(
                "transfer_reservations", "reservation_sid, workspace_sid, transfer_sid, change_seq"
            ),
            (reservation_sid, workspace_sid, transfer_sid, seq),
        )

    def of_reservation(self, workspace_sid: str, reservation_sid: str) -> Transfer | None:
        """The transfer that offered this reservation, if one did."""
        row = self.db.fetchone(
            f"{_SELECT} WHERE workspace_sid = ? AND sid = (SELECT transfer_sid FROM"
            " transfer_reservations WHERE reservation_sid = ?)",
            (workspace_sid, reservation_sid),
        )
        return None if row is None else TRANSFERS.record(row)

    def delete_of_task(self, workspace_sid: str, task_sid: str) -> None:
        """A deleted task's transfers and their links."""
        self.db.execute(
            "DELETE FROM transfer_reservations WHERE transfer_sid IN"
            " (SELECT sid FROM transfers WHERE workspace_sid = ? AND task_sid = ?)",
            (workspace_sid, task_sid),
        )
        self.db.execute(
            "DELETE FROM transfers WHERE workspace_sid = ? AND task_sid = ?",
            (workspace_sid, task_sid),
        )
