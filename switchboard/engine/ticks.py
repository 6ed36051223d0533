"""The tick: process every deadline that has passed, in deadline order, each stamped at its
deadline rather than at the moment it was noticed."""

from __future__ import annotations

import logging
from itertools import groupby

from switchboard.engine.reservations import ReservationOps
from switchboard.engine.tx import Tx
from switchboard.models import TaskStatus

log = logging.getLogger("switchboard.engine")

# Deadlines handled per transaction: large enough to clear a burst of thousands quickly,
# small enough that one transaction never holds the workspace lock for long.
BATCH = 1000
# In a pipelined batch (PostgreSQL), what each this many deadlines wrote is sent at once.
SEND_EVERY = 100


class TickOps(ReservationOps):
    def tick(self, now: int | None = None, *, limit: int | None = None) -> int:
        """Process the deadlines at or before `now` (default: the clock), earliest first;
        all of them, or about `limit` (whole batches). Returns how many were processed."""
        moment = self.now() if now is None else now
        done = 0
        while limit is None or done < limit:
            due = self.store.due_deadlines(moment, BATCH if limit is None else min(BATCH, limit))
            if not due:
                return done
            for workspace_sid, items in groupby(due, key=lambda d: d[2]):
                batch = list(items)
                try:
                    self._process_batch(workspace_sid, batch)
                except Exception:
                    log.exception("deadlines of workspace %s failed; dropping them", workspace_sid)
                    with self.store.write(None):
                        self._clear_batch(batch)
                done += len(batch)
        return done

    def _process_batch(self, workspace_sid: str, batch: list[tuple[int, str, str, str]]) -> None:
        with self.writing(workspace_sid, at=batch[0][0], batch=True) as tx:
            left = []
            for done, item in enumerate(batch, 1):
                tx.now = item[0]
                if not self._process_deadline(tx, item[1], item[3]):
                    left.append(item)
                if done % SEND_EVERY == 0:
                    self.send_ahead(tx)
            self._clear_batch(left)

    def _clear_batch(self, batch: list[tuple[int, str, str, str]]) -> None:
        """One statement per kind clears whatever deadline of the batch is still in place."""
        for kind in ("reservation", "step", "ttl"):
            due = [(sid, deadline) for deadline, k, _, sid in batch if k == kind]
            if due:
                self.store.clear_deadlines(kind, due)

    def _process_deadline(self, tx: Tx, kind: str, sid: str) -> bool:
        """Act on one deadline; True when that wrote the row without it (closed the
        reservation, canceled the task), so that it need not be cleared."""
        if kind == "reservation":
            return self._time_out_reservation(tx, sid)
        if kind == "ttl":
            return self._expire_task(tx, sid)
        entry = tx.index.work.tasks.get(sid)
        if entry is not None and entry.task.assignment_status == TaskStatus.PENDING:
            self._advance(tx, entry.task)
        return False

    def next_deadline(self) -> int | None:
        """When the tick next has work, or None."""
        return self.store.next_deadline()
