"""Store methods for the routing engine: workflows, tasks, reservations, events, callbacks.

Mixed into `Store`; the same contract holds (writes inside `store.write`, rows carry change_seq).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from switchboard.models import (
    DueDeadline,
    Reservation,
    ReservationStatus,
    Task,
    TaskStatus,
    Workflow,
)
from switchboard.storage.db import Database, Row
from switchboard.storage.keyset import Order, after_sql, order_sql

if TYPE_CHECKING:
    from switchboard.storage.held_rows import HeldRows

_WORKFLOW_COLUMNS = (
    "sid, workspace_sid, account_sid, friendly_name, configuration, assignment_callback_url,"
    " fallback_assignment_callback_url, task_reservation_timeout, date_created, date_updated"
)
TASK_COLUMNS = (
    "sid, workspace_sid, account_sid, workflow_sid, task_channel_sid, attributes,"
    " assignment_status, priority, timeout, reason, addons, routing_target, ignore_capacity,"
    " virtual_start_time, date_created, date_updated, date_closed, version, filter_index,"
    " target_index, task_queue_sid, task_queue_entered_date, step_deadline, ttl_deadline,"
    " assignment_count"
)
TASK_COLUMN_NAMES = tuple(c.strip() for c in TASK_COLUMNS.split(","))


def qualified(alias: str, columns: str) -> str:
    """A comma-separated column list with each column named through a table alias, for
    SELECTs that join: qualified("t", "sid, version") is "t.sid, t.version"."""
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


_TASK_SELECT = (
    f"SELECT {qualified('t', TASK_COLUMNS)}, f.friendly_name, q.friendly_name,"
    " c.unique_name FROM tasks t"
    " LEFT JOIN workflows f ON f.sid = t.workflow_sid"
    " LEFT JOIN task_queues q ON q.sid = t.task_queue_sid"
    " LEFT JOIN task_channels c ON c.sid = t.task_channel_sid"
)
RESERVATION_COLUMNS = (
    "sid, workspace_sid, account_sid, task_sid, worker_sid, task_queue_sid, task_channel_sid,"
    " reservation_status, timeout_deadline, worker_previous_activity_sid, instruction,"
    " date_created, date_updated, version"
)
_RESERVATION_SELECT = (
    f"SELECT {qualified('r', RESERVATION_COLUMNS)}, w.friendly_name FROM reservations r"
    " LEFT JOIN workers w ON w.sid = r.worker_sid"
)


def marks(n: int) -> str:
    return ", ".join("?" for _ in range(n))


def _workflow(row: Row) -> Workflow:
    return Workflow(*row)


def _task(row: Row) -> Task:
    values = list(row)
    values[6] = TaskStatus(values[6])
    values[12] = None if values[12] is None else bool(values[12])
    return Task(*values)


def task_values(t: Task) -> tuple[Any, ...]:
    return (
        t.sid,
        t.workspace_sid,
        t.account_sid,
        t.workflow_sid,
        t.task_channel_sid,
        t.attributes,
        t.assignment_status.value,
        t.priority,
        t.timeout,
        t.reason,
        t.addons,
        t.routing_target,
        None if t.ignore_capacity is None else int(t.ignore_capacity),
        t.virtual_start_time,
        t.date_created,
        t.date_updated,
        t.date_closed,
        t.version,
        t.filter_index,
        t.target_index,
        t.task_queue_sid,
        t.task_queue_entered_date,
        t.step_deadline,
        t.ttl_deadline,
        t.assignment_count,
    )


def _reservation(row: Row) -> Reservation:
    values = list(row)
    values[7] = ReservationStatus(values[7])
    return Reservation(*values)


def reservation_values(r: Reservation) -> tuple[Any, ...]:
    return (
        r.sid,
        r.workspace_sid,
        r.account_sid,
        r.task_sid,
        r.worker_sid,
        r.task_queue_sid,
        r.task_channel_sid,
        r.reservation_status.value,
        r.timeout_deadline,
        r.worker_previous_activity_sid,
        r.instruction,
        r.date_created,
        r.date_updated,
        r.version,
    )


def _where_page(
    where: list[str], params: list[Any], order: Order, after: Sequence[Any] | None
) -> tuple[str, list[Any]]:
    clauses, values = list(where), list(params)
    if after is not None:
        clause, extra = after_sql(order, after)
        clauses.append(clause)
        values.extend(extra)
    return f" WHERE {' AND '.join(clauses)} ORDER BY {order_sql(order)} LIMIT ?", values


class RoutingRows:
    db: Database
    held: HeldRows

    # -- workflows ----------------------------------------------------------------------------

    def insert_workflow(self, w: Workflow, seq: int) -> None:
        self.db.execute(
            f"INSERT INTO workflows ({_WORKFLOW_COLUMNS}, change_seq) VALUES ({marks(11)})",
            (*_workflow_values(w), seq),
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
            f"SELECT {_WORKFLOW_COLUMNS} FROM workflows WHERE workspace_sid = ? AND sid = ?",
            (workspace_sid, sid),
        )
        return None if row is None else _workflow(row)

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
        tail, values = _where_page(where, params, order, after)
        rows = self.db.fetchall(
            f"SELECT {_WORKFLOW_COLUMNS} FROM workflows{tail}", [*values, limit]
        )
        return [_workflow(r) for r in rows]

    def workflow_changes(self, workspace_sid: str, seq: int) -> list[Workflow]:
        rows = self.db.fetchall(
            f"SELECT {_WORKFLOW_COLUMNS} FROM workflows WHERE workspace_sid = ? AND change_seq > ?",
            (workspace_sid, seq),
        )
        return [_workflow(r) for r in rows]

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
            f"{_TASK_SELECT} WHERE t.workspace_sid = ? AND t.sid = ?", (workspace_sid, sid)
        )
        return None if row is None else _task(row)

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
        order: Order = (("t.date_created", False), ("t.sid", False)),
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
        tail, values = _where_page(where, params, order, after)
        return [_task(r) for r in self.db.fetchall(_TASK_SELECT + tail, [*values, limit])]

    def task_changes(self, workspace_sid: str, seq: int) -> list[Task]:
        rows = self.db.fetchall(
            f"{_TASK_SELECT} WHERE t.workspace_sid = ? AND t.change_seq > ?", (workspace_sid, seq)
        )
        return [_task(r) for r in rows]

    def open_tasks(self, workspace_sid: str) -> list[Task]:
        rows = self.db.fetchall(
            f"{_TASK_SELECT} WHERE t.workspace_sid = ? AND t.assignment_status IN (?, ?, ?, ?)",
            (workspace_sid, "pending", "reserved", "assigned", "wrapping"),
        )
        return [_task(r) for r in rows]

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
            f"{_RESERVATION_SELECT} WHERE r.workspace_sid = ? AND r.sid = ?", (workspace_sid, sid)
        )
        return None if row is None else _reservation(row)

    def list_reservations(
        self,
        workspace_sid: str,
        *,
        task_sid: str | None = None,
        worker_sid: str | None = None,
        statuses: Sequence[str] = (),
        order: Order = (("r.date_created", False), ("r.sid", False)),
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
        tail, values = _where_page(where, params, order, after)
        return [
            _reservation(r) for r in self.db.fetchall(_RESERVATION_SELECT + tail, [*values, limit])
        ]

    def reservation_changes(self, workspace_sid: str, seq: int) -> list[Reservation]:
        rows = self.db.fetchall(
            f"{_RESERVATION_SELECT} WHERE r.workspace_sid = ? AND r.change_seq > ?",
            (workspace_sid, seq),
        )
        return [_reservation(r) for r in rows]

    def open_reservations(self, workspace_sid: str) -> list[Reservation]:
        rows = self.db.fetchall(
            # As written in reservations_open's condition, so that index answers it.
            f"{_RESERVATION_SELECT} WHERE r.workspace_sid = ?"
            " AND r.reservation_status IN ('pending', 'accepted', 'wrapping')",
            (workspace_sid,),
        )
        return [_reservation(r) for r in rows]

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


def _workflow_values(w: Workflow) -> tuple[Any, ...]:
    return (
        w.sid,
        w.workspace_sid,
        w.account_sid,
        w.friendly_name,
        w.configuration,
        w.assignment_callback_url,
        w.fallback_assignment_callback_url,
        w.task_reservation_timeout,
        w.date_created,
        w.date_updated,
    )
