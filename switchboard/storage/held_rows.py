"""Task, reservation and worker rows held back inside a transaction and written together.

One engine write changes the same few rows several times: creating a task inserts it, places
it in a step and marks it reserved; a burst of reservation timeouts closes, requeues and
re-offers thousands of rows. Written as they change, each change is a statement of its own
(a trip through the driver, a network round trip on PostgreSQL, an index rewrite). Held, a
row is written once with its last values when the transaction ends, and rows of one shape go
in one `executemany`.

Nothing can read a held row before it is written: the connection flushes held rows before
any other statement of the transaction and before COMMIT, and drops them on ROLLBACK
(`Database.hold`). Outside a transaction rows are written at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from switchboard.models import Reservation, Task, Worker
from switchboard.storage.columns import (
    RESERVATION_COLUMNS,
    TASK_COLUMNS,
    TASKS,
    reservation_values,
    task_values,
)
from switchboard.storage.database import Database

# Columns an update may leave alone: the task's identity never changes.
_TASK_FIXED = 3


@dataclass(slots=True)
class _HeldTask:
    before: Task | None  # the row as the transaction found it; None: unknown (write all)
    after: Task
    seq: int
    new: bool


class HeldRows:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._tasks: dict[str, _HeldTask] = {}
        self._reservations: dict[str, tuple[Reservation, int, bool]] = {}
        self._workers: dict[str, tuple[Worker, int]] = {}

    # -- holding ------------------------------------------------------------------------------

    def task(self, task: Task, seq: int, *, before: Task | None = None, new: bool = False) -> None:
        held = self._tasks.get(task.sid)
        if held is None:
            self._tasks[task.sid] = _HeldTask(before, task, seq, new)
        else:
            held.after, held.seq = task, seq
        self._held()

    def reservation(self, reservation: Reservation, seq: int, *, new: bool = False) -> None:
        held = self._reservations.get(reservation.sid)
        self._reservations[reservation.sid] = (reservation, seq, new or bool(held and held[2]))
        self._held()

    def worker(self, worker: Worker, seq: int) -> None:
        self._workers[worker.sid] = (worker, seq)
        self._held()

    def _held(self) -> None:
        if self._db.in_transaction:
            self._db.hold(self)
        else:
            self.flush()

    # -- the connection's side ----------------------------------------------------------------

    def discard(self) -> None:
        self._tasks, self._reservations, self._workers = {}, {}, {}

    def flush(self) -> None:
        """Write every held row (tasks first: reservations refer to them)."""
        tasks, reservations, workers = self._tasks, self._reservations, self._workers
        self.discard()
        if tasks:
            self._write_tasks(list(tasks.values()))
        if reservations:
            self._write_reservations(list(reservations.values()))
        if workers:
            self._write_workers(list(workers.values()))

    def _write_tasks(self, held: list[_HeldTask]) -> None:
        inserts = [(*task_values(h.after), h.seq) for h in held if h.new]
        if inserts:
            self._db.insert_rows("tasks", f"{TASK_COLUMNS}, change_seq", inserts)
        # Only the columns that changed, so an index is rewritten only when one of its
        # columns is set (tasks have several); rows changed alike share one statement.
        updates: dict[tuple[int, ...], list[tuple[Any, ...]]] = {}
        for h in held:
            if h.new:
                continue
            values = task_values(h.after)
            old = None if h.before is None else task_values(h.before)
            changed = tuple(
                i for i in range(_TASK_FIXED, len(values)) if old is None or old[i] != values[i]
            )
            row = (*(values[i] for i in changed), h.seq, h.after.sid)
            updates.setdefault(changed, []).append(row)
        for changed, rows in updates.items():
            assignments = "".join(f"{TASKS.names[i]} = ?, " for i in changed)
            self._db.executemany(
                f"UPDATE tasks SET {assignments}change_seq = ? WHERE sid = ?", rows
            )

    def _write_reservations(self, held: list[tuple[Reservation, int, bool]]) -> None:
        inserts = [(*reservation_values(r), seq) for r, seq, new in held if new]
        if inserts:
            self._db.insert_rows("reservations", f"{RESERVATION_COLUMNS}, change_seq", inserts)
        updates = [
            (
                r.reservation_status.value,
                r.timeout_deadline,
                r.instruction,
                r.date_updated,
                r.version,
                seq,
                r.sid,
            )
            for r, seq, new in held
            if not new
        ]
        if updates:
            self._db.executemany(
                "UPDATE reservations SET reservation_status = ?, timeout_deadline = ?,"
                " instruction = ?, date_updated = ?, version = ?, change_seq = ? WHERE sid = ?",
                updates,
            )

    def _write_workers(self, held: list[tuple[Worker, int]]) -> None:
        self._db.executemany(
            "UPDATE workers SET friendly_name = ?, name_key = ?, activity_sid = ?,"
            " attributes = ?, date_updated = ?, date_status_changed = ?, version = ?,"
            " change_seq = ? WHERE sid = ?",
            [
                (
                    w.friendly_name,
                    w.friendly_name.casefold(),
                    w.activity_sid,
                    w.attributes,
                    w.date_updated,
                    w.date_status_changed,
                    w.version,
                    seq,
                    w.sid,
                )
                for w, seq in held
            ],
        )
