"""Tasks: what each workspace routes, from creation until it is closed or deleted.

A collaborator of `Store` (`store.tasks`). New and changed tasks are held and written
together at the end of the engine's write (`HeldRows`), so a task changed several times in a
write is written once, with its last values; reads inside the write see them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from switchboard.models import Task
from switchboard.storage.columns import TASK_SELECT, TASK_SORT, to_task
from switchboard.storage.database import Database
from switchboard.storage.held_rows import HeldRows
from switchboard.storage.keyset import Order
from switchboard.storage.sql import marks, where_equal

# What a routing index catching up reads (see Store.prefetch_changes).
TASK_CHANGES = f"{TASK_SELECT} WHERE t.workspace_sid = ? AND t.change_seq > ?"


class TaskRows:
    def __init__(self, db: Database, held: HeldRows) -> None:
        self.db = db
        self.held = held

    def insert(self, t: Task, seq: int) -> None:
        """Held until the transaction's next other statement or its commit (`HeldRows`)."""
        self.held.task(t, seq, new=True)

    def update(self, t: Task, seq: int, before: Task | None = None) -> None:
        """Held like `insert`. Given the row as it was, only the columns that changed are
        written."""
        self.held.task(t, seq, before=before)

    def get(self, workspace_sid: str, sid: str) -> Task | None:
        row = self.db.fetchone(
            f"{TASK_SELECT} WHERE t.workspace_sid = ? AND t.sid = ?", (workspace_sid, sid)
        )
        return None if row is None else to_task(row)

    def find(
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
        where_equal(where, params, [
            ("t.workflow_sid", workflow_sid),
            ("f.friendly_name", workflow_name),
            ("t.task_queue_sid", task_queue_sid),
            ("q.friendly_name", task_queue_name),
            ("t.routing_target", routing_target),
        ])  # fmt: skip
        if has_addons is not None:
            where.append(
                "(t.addons IS NOT NULL AND t.addons <> '{}')"
                if has_addons
                else "(t.addons IS NULL OR t.addons = '{}')"
            )
        tail, values = TASK_SORT.page(where, params, order, after)
        return [to_task(r) for r in self.db.fetchall(TASK_SELECT + tail, [*values, limit])]

    def changes(self, workspace_sid: str, seq: int) -> list[Task]:
        rows = self.db.fetchall(TASK_CHANGES, (workspace_sid, seq))
        return [to_task(r) for r in rows]

    def all_open(self, workspace_sid: str) -> list[Task]:
        """The workspace's tasks still pending, reserved, assigned or wrapping."""
        rows = self.db.fetchall(
            f"{TASK_SELECT} WHERE t.workspace_sid = ? AND t.assignment_status IN (?, ?, ?, ?)",
            (workspace_sid, "pending", "reserved", "assigned", "wrapping"),
        )
        return [to_task(r) for r in rows]

    def count(self, workspace_sid: str) -> int:
        row = self.db.fetchone(
            "SELECT COUNT(*) FROM tasks WHERE workspace_sid = ?", (workspace_sid,)
        )
        return int(row[0]) if row else 0

    def delete(self, workspace_sid: str, sid: str) -> None:
        self.db.execute(
            "DELETE FROM tasks WHERE workspace_sid = ? AND sid = ?", (workspace_sid, sid)
        )
