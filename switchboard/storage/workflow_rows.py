"""Workflows: each workspace's routing configurations and where their assignment callbacks go.

A collaborator of `Store` (`store.workflows`), written by the engine inside its writes (rows
carry the write's change number) and read by the engine, the API and routing indexes catching
up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from switchboard.models import Workflow
from switchboard.storage.columns import (
    WORKFLOW_COLUMNS,
    WORKFLOW_SORT,
    to_workflow,
    workflow_values,
)
from switchboard.storage.database import Database
from switchboard.storage.keyset import Order
from switchboard.storage.sql import insert_sql, where_equal

# What a routing index catching up reads (see Store.prefetch_changes).
WORKFLOW_CHANGES = (
    f"SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE workspace_sid = ? AND change_seq > ?"
)


class WorkflowRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, w: Workflow, seq: int) -> None:
        self.db.execute(
            insert_sql("workflows", f"{WORKFLOW_COLUMNS}, change_seq"),
            (*workflow_values(w), seq),
        )

    def update(self, w: Workflow, seq: int) -> None:
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

    def get(self, workspace_sid: str, sid: str) -> Workflow | None:
        row = self.db.fetchone(
            f"SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE workspace_sid = ? AND sid = ?",
            (workspace_sid, sid),
        )
        return None if row is None else to_workflow(row)

    def find(
        self,
        workspace_sid: str,
        *,
        friendly_name: str | None = None,
        order: Order = (("date_created", False), ("sid", False)),
        after: Sequence[Any] | None = None,
        limit: int = 1000,
    ) -> list[Workflow]:
        where, params = ["workspace_sid = ?"], [workspace_sid]
        where_equal(where, params, [("friendly_name", friendly_name)])
        tail, values = WORKFLOW_SORT.page(where, params, order, after)
        rows = self.db.fetchall(f"SELECT {WORKFLOW_COLUMNS} FROM workflows{tail}", [*values, limit])
        return [to_workflow(r) for r in rows]

    def changes(self, workspace_sid: str, seq: int) -> list[Workflow]:
        rows = self.db.fetchall(WORKFLOW_CHANGES, (workspace_sid, seq))
        return [to_workflow(r) for r in rows]

    def delete(self, workspace_sid: str, sid: str) -> None:
        self.db.execute(
            "DELETE FROM workflows WHERE workspace_sid = ? AND sid = ?", (workspace_sid, sid)
        )
