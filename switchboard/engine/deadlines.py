"""The tick: process every deadline that has passed, in deadline order, each stamped at its
deadline rather than at the moment it was noticed."""

from __future__ import annotations

import logging
from itertools import groupby

from switchboard.engine.core import EngineCore
from switchboard.engine.dispatch import Dispatcher
from switchboard.engine.reservations import Reservations
from switchboard.engine.tasks import Tasks
from switchboard.engine.tx import Tx
from switchboard.models import DueDeadline, TaskStatus

log = logging.getLogger("switchboard.engine")

# Deadlines handled per transaction: large enough to clear a burst of thousands quickly,
# small enough that one transaction never holds the workspace lock for long.
BATCH = 1000
# In a pipelined batch (PostgreSQL), what each this many deadlines wrote is sent at once.
SEND_EVERY = 100


class Deadlines:
    """Reservation timeouts, task TTLs and workflow step timeouts, as they fall due; what the
    tick loop (timers.py) drives."""

    def __init__(
        self, core: EngineCore, dispatcher: Dispatcher, tasks: Tasks, reservations: Reservations
    ) -> None:
        self.core = core
        self.store = core.store
        self.dispatcher = dispatcher
        self.tasks = tasks
        self.reservations = reservations

    def now(self) -> int:
        """The engine's clock, which deadlines are judged by."""
        return self.core.now()

    def tick(self, now: int | None = None, *, limit: int | None = None) -> int:
        """Process the deadlines at or before `now` (default: the clock), earliest first;
        all of them, or about `limit` (whole batches). Returns how many were processed."""
        moment = self.core.now() if now is None else now
        done = 0
        while limit is None or done < limit:
            due = self.store.deadlines.due(moment, BATCH if limit is None else min(BATCH, limit))
            if not due:
                return done
            for workspace_sid, items in groupby(due, key=_workspace_of):
                batch = list(items)
                try:
                    self._process_batch(workspace_sid, batch)
                except Exception:
                    log.exception("deadlines of workspace %s failed; dropping them", workspace_sid)
                    with self.store.write(None):
                        self._clear_batch(batch)
                done += len(batch)
        return done

    def next_deadline(self) -> int | None:
        """When the tick next has work, or None."""
        return self.store.deadlines.earliest()

    def _process_batch(self, workspace_sid: str, batch: list[DueDeadline]) -> None:
        with self.core.writing(workspace_sid, at=batch[0].at, batch=True) as tx:
            left = []
            for done, due in enumerate(batch, 1):
                tx.now = due.at
                if not self._process(tx, due):
                    left.append(due)
                if done % SEND_EVERY == 0:
                    self.core.send_ahead(tx)
            self._clear_batch(left)

    def _clear_batch(self, batch: list[DueDeadline]) -> None:
        """One statement per kind clears whatever deadline of the batch is still in place."""
        for kind in ("reservation", "step", "ttl"):
            due = [(d.sid, d.at) for d in batch if d.kind == kind]
            if due:
                self.store.deadlines.clear(kind, due)

    def _process(self, tx: Tx, due: DueDeadline) -> bool:
        """Act on one deadline; True when that wrote the row without it (closed the
        reservation, canceled the task), so that it need not be cleared."""
        if due.kind == "reservation":
            return self.reservations.time_out_reservation(tx, due.sid)
        if due.kind == "ttl":
            return self.tasks.expire_task(tx, due.sid)
        entry = tx.index.work.tasks.get(due.sid)
        if entry is not None and entry.task.assignment_status == TaskStatus.PENDING:
            self.dispatcher.advance(tx, entry.task)
        return False


def _workspace_of(due: DueDeadline) -> str:
    return due.workspace_sid
