"""Deadlines: when reservations time out, and when pending tasks leave their workflow step or
expire (`reservations.timeout_deadline`, `tasks.step_deadline`, `tasks.ttl_deadline`).

A collaborator of `Store` (`store.deadlines`), read across every workspace by the tick
(`engine/deadlines.py`) and the tick loop that waits for the next one. Each deadline column
has an index holding only the rows where it is set (migration 0009).
"""

from __future__ import annotations

from collections.abc import Sequence

from switchboard.models import DueDeadline
from switchboard.storage.database import Database


class DeadlineRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    def due(self, now: int, limit: int) -> list[DueDeadline]:
        """Every deadline at or before `now`, earliest first."""
        rows = self.db.fetchall(
            "SELECT * FROM ("
            " SELECT timeout_deadline AS d, 'reservation' AS k, workspace_sid, sid"
            "  FROM reservations"
            "  WHERE timeout_deadline IS NOT NULL AND timeout_deadline <= ?"
            " UNION ALL"
            " SELECT step_deadline, 'step', workspace_sid, sid FROM tasks"
            "  WHERE step_deadline IS NOT NULL AND step_deadline <= ?"
            "  AND assignment_status = 'pending'"
            " UNION ALL"
            " SELECT ttl_deadline, 'ttl', workspace_sid, sid FROM tasks"
            "  WHERE ttl_deadline IS NOT NULL AND ttl_deadline <= ?"
            ") due ORDER BY d, k, sid LIMIT ?",
            (now, now, now, limit),
        )
        return [DueDeadline(int(r[0]), r[1], r[2], r[3]) for r in rows]

    def clear(self, kind: str, due: Sequence[tuple[str, int]]) -> None:
        """Forget processed deadlines, given as (sid, deadline), that are still in place (so
        the tick cannot meet them again); a deadline that processing moved is left alone."""
        table, column = {
            "reservation": ("reservations", "timeout_deadline"),
            "step": ("tasks", "step_deadline"),
            "ttl": ("tasks", "ttl_deadline"),
        }[kind]
        # One primary-key seek per deadline; most were already cleared by processing and
        # change nothing.
        self.db.executemany(
            f"UPDATE {table} SET {column} = NULL WHERE sid = ? AND {column} = ?", due
        )

    def earliest(self) -> int | None:
        """The earliest deadline of any workspace, or None."""
        row = self.db.fetchone(
            # Each deadline index holds only rows where it is set (0009): say so, to use it.
            "SELECT MIN(d) FROM ("
            " SELECT MIN(timeout_deadline) AS d FROM reservations"
            "  WHERE timeout_deadline IS NOT NULL"
            " UNION ALL SELECT MIN(step_deadline) FROM tasks"
            "  WHERE step_deadline IS NOT NULL AND assignment_status = 'pending'"
            " UNION ALL SELECT MIN(ttl_deadline) FROM tasks WHERE ttl_deadline IS NOT NULL) m"
        )
        return None if row is None or row[0] is None else int(row[0])
