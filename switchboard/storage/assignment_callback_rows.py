"""The assignment callbacks outbox: one row per reservation whose workflow has an assignment
callback URL, until the callback is sent or fails for good.

A collaborator of `Store` (`store.assignment_callbacks`). The engine inserts a row inside the
write that creates the reservation; the sender (`outbound/assignment_callbacks.py`) claims
due rows with a lease, so that among processes sharing the database one sends each.
"""

from __future__ import annotations

from collections.abc import Sequence

from switchboard.storage.database import Database
from switchboard.storage.sql import marks


class AssignmentCallbackRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, workspace_sid: str, reservation_sid: str, due: int, now: int) -> None:
        self.db.execute(
            "INSERT INTO assignment_callbacks (reservation_sid, workspace_sid, due, state,"
            " attempts, date_created, date_updated) VALUES (?, ?, ?, 'pending', 0, ?, ?)",
            (reservation_sid, workspace_sid, due, now, now),
        )

    def any_due(self, now: int) -> bool:
        """Whether a callback is pending and due at `now`: what a claim would find, looked
        for without the claim's transaction (the sender looks before it claims)."""
        row = self.db.fetchone(
            "SELECT 1 FROM assignment_callbacks WHERE state = 'pending' AND due <= ? LIMIT 1",
            (now,),
        )
        return row is not None

    def claim(self, now: int, limit: int, lease_ms: int) -> list[tuple[str, str]]:
        """(workspace_sid, reservation_sid) of due callbacks, each leased to the caller for
        `lease_ms` (its `due` moves forward) so other processes do not send it at once."""
        skip = " FOR UPDATE SKIP LOCKED" if self.db.dialect == "postgres" else ""
        with self.db.transaction(None):
            rows = self.db.fetchall(
                "SELECT workspace_sid, reservation_sid FROM assignment_callbacks"
                f" WHERE state = 'pending' AND due <= ? ORDER BY due LIMIT ?{skip}",
                (now, limit),
            )
            for _, sid in rows:
                self.db.execute(
                    "UPDATE assignment_callbacks SET due = ?, attempts = attempts + 1"
                    " WHERE reservation_sid = ?",
                    (now + lease_ms, sid),
                )
        return [(r[0], r[1]) for r in rows]

    def renew(self, reservation_sids: Sequence[str], due: int) -> None:
        """Extend the lease of claimed callbacks still pending (the claimer is at work)."""
        if reservation_sids:
            self.db.execute(
                "UPDATE assignment_callbacks SET due = ?"
                f" WHERE state = 'pending' AND reservation_sid IN ({marks(len(reservation_sids))})",
                (due, *reservation_sids),
            )

    def give_back(self, reservation_sid: str, due: int, *, counted: bool) -> None:
        """Give a claimed callback back unsent, due at `due`; `counted` False takes back the
        attempt its claim counted (it was put off, never tried)."""
        self.db.execute(
            "UPDATE assignment_callbacks SET due = ?, attempts = attempts - ?"
            " WHERE reservation_sid = ? AND state = 'pending'",
            (due, 0 if counted else 1, reservation_sid),
        )

    def finish(self, reservation_sid: str, state: str, error: str | None, now: int) -> None:
        self.db.execute(
            "UPDATE assignment_callbacks SET state = ?, last_error = ?, date_updated = ?"
            " WHERE reservation_sid = ?",
            (state, error, now, reservation_sid),
        )

    def state(self, reservation_sid: str) -> tuple[str, int, str | None] | None:
        """(state, attempts, last error) of the reservation's callback; None: it has none."""
        row = self.db.fetchone(
            "SELECT state, attempts, last_error FROM assignment_callbacks"
            " WHERE reservation_sid = ?",
            (reservation_sid,),
        )
        return None if row is None else (row[0], int(row[1]), row[2])
