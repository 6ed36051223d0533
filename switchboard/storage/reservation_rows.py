"""Reservations: the offers of a task to a worker, from creation until they end.

A collaborator of `Store` (`store.reservations`). Like tasks, new and changed reservations
are held and written together at the end of the engine's write (`HeldRows`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from switchboard.models import Reservation
from switchboard.storage.columns import RESERVATION_SELECT, RESERVATION_SORT, to_reservation
from switchboard.storage.database import Database
from switchboard.storage.held_rows import HeldRows
from switchboard.storage.keyset import Order
from switchboard.storage.sql import marks, where_equal

# What a routing index catching up reads (see Store.prefetch_changes).
RESERVATION_CHANGES = f"{RESERVATION_SELECT} WHERE r.workspace_sid = ? AND r.change_seq > ?"


class ReservationRows:
    def __init__(self, db: Database, held: HeldRows) -> None:
        self.db = db
        self.held = held

    def insert(self, r: Reservation, seq: int) -> None:
        """Held until the transaction's next other statement or its commit (`HeldRows`)."""
        self.held.reservation(r, seq, new=True)

    def update(self, r: Reservation, seq: int) -> None:
        self.held.reservation(r, seq)

    def get(self, workspace_sid: str, sid: str) -> Reservation | None:
        row = self.db.fetchone(
            f"{RESERVATION_SELECT} WHERE r.workspace_sid = ? AND r.sid = ?", (workspace_sid, sid)
        )
        return None if row is None else to_reservation(row)

    def find(
        self,
        workspace_sid: str,
        *,
        task_sid: str | None = None,
        worker_sid: str | None = None,
        statuses: Sequence[str] = (),
        order: Order = (("date_created", False), ("sid", False)),
        after: Sequence[Any] | None = None,
        limit: int = 1000,
    ) -> list[Reservation]:
        where, params = ["r.workspace_sid = ?"], [workspace_sid]
        where_equal(where, params, [("r.task_sid", task_sid), ("r.worker_sid", worker_sid)])
        if statuses:
            where.append(f"r.reservation_status IN ({marks(len(statuses))})")
            params.extend(statuses)
        tail, values = RESERVATION_SORT.page(where, params, order, after)
        return [
            to_reservation(r) for r in self.db.fetchall(RESERVATION_SELECT + tail, [*values, limit])
        ]

    def changes(self, workspace_sid: str, seq: int) -> list[Reservation]:
        rows = self.db.fetchall(RESERVATION_CHANGES, (workspace_sid, seq))
        return [to_reservation(r) for r in rows]

    def all_open(self, workspace_sid: str) -> list[Reservation]:
        """The workspace's reservations still pending, accepted or wrapping."""
        rows = self.db.fetchall(
            # As written in reservations_open's condition, so that index answers it.
            f"{RESERVATION_SELECT} WHERE r.workspace_sid = ?"
            " AND r.reservation_status IN ('pending', 'accepted', 'wrapping')",
            (workspace_sid,),
        )
        return [to_reservation(r) for r in rows]

    def last_reserved(self, workspace_sid: str) -> dict[str, int]:
        """Worker SID → when its latest reservation was created (the idle clock)."""
        rows = self.db.fetchall(
            "SELECT worker_sid, MAX(date_created) FROM reservations WHERE workspace_sid = ?"
            " GROUP BY worker_sid",
            (workspace_sid,),
        )
        return {r[0]: int(r[1]) for r in rows}

    def delete_of_task(self, workspace_sid: str, task_sid: str) -> None:
        """A deleted task's reservations."""
        self.db.execute(
            "DELETE FROM reservations WHERE workspace_sid = ? AND task_sid = ?",
            (workspace_sid, task_sid),
        )
