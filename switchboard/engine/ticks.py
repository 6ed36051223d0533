"""The tick: process every deadline that has passed, in deadline order, each stamped at its
deadline rather than at the moment it was noticed."""

from __future__ import annotations

from itertools import groupby

from switchboard.engine.reservations import ReservationOps
from switchboard.engine.tx import Tx
from switchboard.models import TaskStatus

# Deadlines handled per transaction: large enough to clear a burst of thousands quickly,
# small enough that one transaction never holds the workspace lock for long.
BATCH = 500


class TickOps(ReservationOps):
    def tick(self, now: int | None = None) -> int:
        """Process all deadlines at or before `now` (default: the clock); returns how many."""
        moment = self.now() if now is None else now
        done = 0
        while True:
            due = self.store.due_deadlines(moment, BATCH)
            if not due:
                return done
            for workspace_sid, items in groupby(due, key=lambda d: d[2]):
                batch = list(items)
                with self.writing(workspace_sid, at=batch[0][0]) as tx:
                    for deadline, kind, _, sid in batch:
                        tx.now = deadline
                        self._process_deadline(tx, kind, sid)
                        self.store.clear_deadline(kind, sid, deadline)
                done += len(batch)

    def _process_deadline(self, tx: Tx, kind: str, sid: str) -> None:
        if kind == "reservation":
            self._time_out_reservation(tx, sid)
        elif kind == "ttl":
            self._expire_task(tx, sid)
        else:
            entry = tx.index.work.tasks.get(sid)
            if entry is not None and entry.task.assignment_status == TaskStatus.PENDING:
                self._advance(tx, entry.task)

    def next_deadline(self) -> int | None:
        """When the tick next has work, or None."""
        return self.store.next_deadline()
