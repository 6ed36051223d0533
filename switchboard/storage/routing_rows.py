"""Store methods for the routing engine: workflows, tasks, reservations, deadlines, callbacks.

Mixed into `Store`; the same contract holds (writes inside `store.write`, rows carry change_seq).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from switchboard.models import DueDeadline, Reservation, Task, Workflow
from switchboard.storage.columns import (
    RESERVATION_SELECT,
    RESERVATION_SORT,
    TASK_SELECT,
    TASK_SORT,
    WORKFLOW_COLUMNS,
    WORKFLOW_SORT,
    to_reservation,
    to_task,
    to_workflow,
    workflow_values,
)
from switchboard.storage.database import Database
from switchboard.storage.held_rows import HeldRows
from switchboard.storage.keyset import Order
from switchboard.storage.sql import insert_sql, marks

# What a routing index catching up reads (see Store.prefetch_changes).
WORKFLOW_CHANGES = (
    f"SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE workspace_sid = ? AND change_seq > ?"
)
TASK_CHANGES = f"{TASK_SELECT} WHERE t.workspace_sid = ? AND t.change_seq > ?"
RESERVATION_CHANGES = f"{RESERVATION_SELECT} WHERE r.workspace_sid = ? AND r.change_seq > ?"


class RoutingRows:
    db: Database
    held: HeldRows

    # -- workflows ----------------------------------------------------------------------------

    def insert_workflow(self, w: Workflow, seq: int) -> None:
        self.db.execute(
            insert_sql("workflows", f"{WORKFLOW_COLUMNS}, change_seq"),
            (*workflow_values(w), seq),
        )

    def update_workflow(self, w: Workflow, seq: int) -> None:
        self.db.execute(
            "UPDATE workflows SET friendly_name = ?, configuration = ?,"
            " assignment_callback_url = ?, fallback_assignment_callback_url = ?,"
            " task_reservation_timeout = ?, date_updated = ?, change_seq = ? WHERE sid = ?",
            (
                w.friendly_name,
                w.configuration,
                w.assignment_callback_url,
                w.fallback_assignment_callback_url,
                w.task_reservation_timeout,
                w.date_updated,
                seq,
                w.sid,
            ),
        )

    def get_workflow(self, workspace_sid: str, sid: str) -> Workflow | None:
        row = self.db.fetchone(
            f"SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE workspace_sid = ? AND sid = ?",
            (workspace_sid, sid),
        )
        return None if row is None else to_workflow(row)

    def list_workflows(
        self,
        workspace_sid: str,
        *,
        friendly_name: str | None = None,
        order: Order = (("date_created", False), ("sid", False)),
        after: Sequence[Any] | None = None,
        limit: int = 1000,
    ) -> list[Workflow]:
        where, params = ["workspace_sid = ?"], [workspace_sid]
        if friendly_name is not None:
            where.append("friendly_name = ?")
            params.append(friendly_name)
        tail, values = WORKFLOW_SORT.page(where, params, order, after)
        rows = self.db.fetchall(f"SELECT {WORKFLOW_COLUMNS} FROM workflows{tail}", [*values, limit])
        return [to_workflow(r) for r in rows]

    def workflow_changes(self, workspace_sid: str, seq: int) -> list[Workflow]:
        rows = self.db.fetchall(WORKFLOW_CHANGES, (workspace_sid, seq))
        return [to_workflow(r) for r in rows]

    def delete_workflow(self, workspace_sid: str, sid: str) -> None:
        self.db.execute(
            "DELETE FROM workflows WHERE workspace_sid = ? AND sid = ?", (workspace_sid, sid)
        )

    # -- tasks --------------------------------------------------------------------------------

    def insert_task(self, t: Task, seq: int) -> None:
        """Held until the transaction's next other statement or its commit (`HeldRows`)."""
        self.held.task(t, seq, new=True)

    def update_task(self, t: Task, seq: int, before: Task | None = None) -> None:
        """Held like `insert_task`. Given the row as it was, only the columns that changed
        are written."""
        self.held.task(t, seq, before=before)

    def get_task(self, workspace_sid: str, sid: str) -> Task | None:
        row = self.db.fetchone(
            f"{TASK_SELECT} WHERE t.workspace_sid = ? AND t.sid = ?", (workspace_sid, sid)
        )
        return None if row is None else to_task(row)

    def list_tasks(
        self,
        workspace_sid: str,
        *,
        statuses: Sequence[str] = (),
        workflow_sid: str | None = None,
        workflow_name: str | None = None,
        task_queue_sid: str | None = None,
        task_queue_name: str | None = None,
        routing_target: str | None = None,
        has_addons: bool | None = None,
        order: Order = (("date_created", False), ("sid", False)),
        after: Sequence[Any] | None = None,
        limit: int = 1000,
    ) -> list[Task]:
        where, params = ["t.workspace_sid = ?"], [workspace_sid]
        if statuses:
            where.append(f"t.assignment_status IN ({marks(len(statuses))})")
            params.extend(statuses)
        for column, value in (
            ("t.workflow_sid", workflow_sid),
            ("f.friendly_name", workflow_name),
            ("t.task_queue_sid", task_queue_sid),
            ("q.friendly_name", task_queue_name),
            ("t.routing_target", routing_target),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if has_addons is not None:
            where.append(
                "(t.addons IS NOT NULL AND t.addons <> '{}')"
                if has_addons
                else "(t.addons IS NULL OR t.addons = '{}')"
            )
        tail, values = TASK_SORT.page(where, params, order, after)
        return [to_task(r) for r in self.db.fetchall(TASK_SELECT + tail, [*values, limit])]

    def task_changes(self, workspace_sid: str, seq: int) -> list[Task]:
        rows = self.db.fetchall(TASK_CHANGES, (workspace_sid, seq))
        return [to_task(r) for r in rows]

    def open_tasks(self, workspace_sid: str) -> list[Task]:
        rows = self.db.fetchall(
            f"{TASK_SELECT} WHERE t.workspace_sid = ? AND t.assignment_status IN (?, ?, ?, ?)",
            (workspace_sid, "pending", "reserved", "assigned", "wrapping"),
        )
        return [to_task(r) for r in rows]

    def count_tasks(self, workspace_sid: str) -> int:
        row = self.db.fetchone(
            "SELECT COUNT(*) FROM tasks WHERE workspace_sid = ?", (workspace_sid,)
        )
        return int(row[0]) if row else 0

    def delete_task(self, workspace_sid: str, sid: str) -> None:
        self.db.execute(
            "DELETE FROM tasks WHERE workspace_sid = ? AND sid = ?", (workspace_sid, sid)
        )

    # -- reservations -------------------------------------------------------------------------

    def insert_reservation(self, r: Reservation, seq: int) -> None:
        """Held until the transaction's next other statement or its commit (`HeldRows`)."""
        self.held.reservation(r, seq, new=True)

    def update_reservation(self, r: Reservation, seq: int) -> None:
        self.held.reservation(r, seq)

    def get_reservation(self, workspace_sid: str, sid: str) -> Reservation | None:
        row = self.db.fetchone(
            f"{RESERVATION_SELECT} WHERE r.workspace_sid = ? AND r.sid = ?", (workspace_sid, sid)
        )
        return None if row is None else to_reservation(row)

    def list_reservations(
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
        if task_sid is not None:
            where.append("r.task_sid = ?")
            params.append(task_sid)
        if worker_sid is not None:
            where.append("r.worker_sid = ?")
            params.append(worker_sid)
        if statuses:
            where.append(f"r.reservation_status IN ({marks(len(statuses))})")
            params.extend(statuses)
        tail, values = RESERVATION_SORT.page(where, params, order, after)
        return [
            to_reservation(r) for r in self.db.fetchall(RESERVATION_SELECT + tail, [*values, limit])
        ]

    def reservation_changes(self, workspace_sid: str, seq: int) -> list[Reservation]:
        rows = self.db.fetchall(RESERVATION_CHANGES, (workspace_sid, seq))
        return [to_reservation(r) for r in rows]

    def open_reservations(self, workspace_sid: str) -> list[Reservation]:
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

    def delete_task_reservations(self, workspace_sid: str, task_sid: str) -> None:
        self.db.execute(
            "DELETE FROM reservations WHERE workspace_sid = ? AND task_sid = ?",
            (workspace_sid, task_sid),
        )

    # -- deadlines ----------------------------------------------------------------------------

    def due_deadlines(self, now: int, limit: int) -> list[DueDeadline]:
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

    def clear_deadlines(self, kind: str, due: Sequence[tuple[str, int]]) -> None:
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

    def next_deadline(self) -> int | None:
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

    # -- assignment callbacks -----------------------------------------------------------------

    def insert_assignment_callback(
        self, workspace_sid: str, reservation_sid: str, due: int, now: int
    ) -> None:
        self.db.execute(
            "INSERT INTO assignment_callbacks (reservation_sid, workspace_sid, due, state,"
            " attempts, date_created, date_updated) VALUES (?, ?, ?, 'pending', 0, ?, ?)",
            (reservation_sid, workspace_sid, due, now, now),
        )

    def assignment_callback_due(self, now: int) -> bool:
        """Whether a callback is pending and due at `now`: what a claim would find, looked
        for without the claim's transaction (the sender looks before it claims)."""
        row = self.db.fetchone(
            "SELECT 1 FROM assignment_callbacks WHERE state = 'pending' AND due <= ? LIMIT 1",
            (now,),
        )
        return row is not None

    def claim_assignment_callbacks(
        self, now: int, limit: int, lease_ms: int
    ) -> list[tuple[str, str]]:
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

    def renew_assignment_callbacks(self, reservation_sids: Sequence[str], due: int) -> None:
        """Extend the lease of claimed callbacks still pending (the claimer is at work)."""
        if reservation_sids:
            marks = ", ".join("?" for _ in reservation_sids)
            self.db.execute(
                "UPDATE assignment_callbacks SET due = ?"
                f" WHERE state = 'pending' AND reservation_sid IN ({marks})",
                (due, *reservation_sids),
            )

    def return_assignment_callback(self, reservation_sid: str, due: int, *, counted: bool) -> None:
        """Give a claimed callback back unsent, due at `due`; `counted` False takes back the
        attempt its claim counted (it was put off, never tried)."""
        self.db.execute(
            "UPDATE assignment_callbacks SET due = ?, attempts = attempts - ?"
            " WHERE reservation_sid = ? AND state = 'pending'",
            (due, 0 if counted else 1, reservation_sid),
        )

    def finish_assignment_callback(
        self, reservation_sid: str, state: str, error: str | None, now: int
    ) -> None:
        self.db.execute(
            "UPDATE assignment_callbacks SET state = ?, last_error = ?, date_updated = ?"
            " WHERE reservation_sid = ?",
            (state, error, now, reservation_sid),
        )

    def assignment_callback_state(self, reservation_sid: str) -> tuple[str, int, str | None] | None:
        row = self.db.fetchone(
            "SELECT state, attempts, last_error FROM assignment_callbacks"
            " WHERE reservation_sid = ?",
            (reservation_sid,),
        )
        return None if row is None else (row[0], int(row[1]), row[2])
