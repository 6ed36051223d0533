"""Aggregate reads for the console's queue board and the metrics endpoint.

A collaborator of `Store` (`store.board`). Each method is one GROUP BY over one workspace,
answered from an index: the board and a scrape read a workspace of 15,000 workers and 500
queues in a handful of rows per queue, never a row per task or worker. Status lists are
written into the SQL as literals rather than bound: PostgreSQL uses a partial index only
when it can see that the query's condition implies the index's, and it cannot see through
a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.storage.database import Database
from switchboard.storage.event_rows import COMMIT_ORDER, EVENT_SORT
from switchboard.storage.event_stream_rows import EventStream
from switchboard.storage.sql import marks

_OPEN_TASKS = "('pending', 'reserved', 'assigned', 'wrapping')"
# The condition of migration 0009's partial index reservations_open, word for word.
_OPEN_RESERVATIONS = "('pending', 'accepted', 'wrapping')"


@dataclass(frozen=True, slots=True)
class QueueTasks:
    """Open tasks of one queue (None: tasks no workflow step has placed) with one status and
    priority: how many, and the earliest creation and queue entry among them (epoch ms)."""

    task_queue_sid: str | None
    status: str
    priority: int
    count: int
    oldest_created: int
    oldest_entered: int | None


@dataclass(frozen=True, slots=True)
class ActivityWorkers:
    """One activity of a workspace and how many of its workers are in it."""

    activity_sid: str
    friendly_name: str
    available: bool
    workers: int


@dataclass(frozen=True, slots=True)
class CallbackState:
    """Where a workspace's callbacks stand. Assignment callbacks: how many wait to be sent,
    since when (None: none waits), and how many failed for good. Event callbacks: how many
    events the stream still has to send, the date of the oldest (None: none), its head
    event's failures in a row and the events skipped after too many."""

    assignment_pending: int
    assignment_oldest_pending: int | None
    assignment_failed: int
    event_backlog: int
    event_oldest_undelivered: int | None
    event_attempts: int
    event_skipped: int


class BoardRows:
    """The board's and the metrics' reads (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def workspaces(self, account_sid: str | None = None) -> dict[str, str]:
        """Workspaces (oldest first), of one account or of all: SID → friendly name."""
        where, params = ("WHERE account_sid = ?", (account_sid,)) if account_sid else ("", ())
        rows = self.db.fetchall(
            f"SELECT sid, friendly_name FROM workspaces {where} ORDER BY date_created, sid",
            params,
        )
        return {r[0]: r[1] for r in rows}

    def queue_names(self, workspace_sid: str) -> dict[str, str]:
        """Every queue of the workspace (oldest first): SID → friendly name."""
        rows = self.db.fetchall(
            "SELECT sid, friendly_name FROM task_queues WHERE workspace_sid = ?"
            " ORDER BY date_created, sid",
            (workspace_sid,),
        )
        return {r[0]: r[1] for r in rows}

    def queue_tasks(self, workspace_sid: str) -> list[QueueTasks]:
        """Open tasks counted per queue, status and priority (index tasks_stats_by_workspace
        narrows to the workspace's open tasks)."""
        rows = self.db.fetchall(
            "SELECT task_queue_sid, assignment_status, priority, COUNT(*), MIN(date_created),"
            " MIN(task_queue_entered_date) FROM tasks WHERE workspace_sid = ?"
            f" AND assignment_status IN {_OPEN_TASKS}"
            " GROUP BY task_queue_sid, assignment_status, priority",
            (workspace_sid,),
        )
        return [
            QueueTasks(
                r[0], r[1], int(r[2]), int(r[3]), int(r[4]), None if r[5] is None else int(r[5])
            )
            for r in rows
        ]

    def activity_workers(self, workspace_sid: str) -> list[ActivityWorkers]:
        """Every activity of the workspace (oldest first) with its number of workers. The
        count reads only index workers_by_activity (a join would visit every worker row)."""
        counted = self.db.fetchall(
            "SELECT activity_sid, COUNT(*) FROM workers WHERE workspace_sid = ?"
            " GROUP BY activity_sid",
            (workspace_sid,),
        )
        counts: dict[str, int] = {r[0]: int(r[1]) for r in counted}
        rows = self.db.fetchall(
            "SELECT sid, friendly_name, available FROM activities WHERE workspace_sid = ?"
            " ORDER BY date_created, sid",
            (workspace_sid,),
        )
        return [ActivityWorkers(r[0], r[1], bool(r[2]), counts.get(r[0], 0)) for r in rows]

    def open_reservations(self, workspace_sid: str) -> dict[tuple[str | None, str], int]:
        """(queue SID, status) → how many reservations are pending, accepted or wrapping."""
        rows = self.db.fetchall(
            "SELECT task_queue_sid, reservation_status, COUNT(*) FROM reservations"
            f" WHERE workspace_sid = ? AND reservation_status IN {_OPEN_RESERVATIONS}"
            " GROUP BY task_queue_sid, reservation_status",
            (workspace_sid,),
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def callback_state(self, workspace_sid: str, stream: EventStream | None) -> CallbackState:
        """The workspace's callbacks (`stream`: its event callback stream, if any)."""
        pending = self.db.fetchone(
            "SELECT COUNT(*), MIN(date_created) FROM assignment_callbacks"
            " WHERE state = 'pending' AND workspace_sid = ?",
            (workspace_sid,),
        )
        failed = self.db.fetchone(
            "SELECT COUNT(*) FROM assignment_callbacks WHERE state = 'failed'"
            " AND workspace_sid = ?",
            (workspace_sid,),
        )
        backlog, oldest = self._undelivered(stream)
        return CallbackState(
            assignment_pending=int(pending[0]) if pending else 0,
            assignment_oldest_pending=None
            if not pending or pending[1] is None
            else int(pending[1]),
            assignment_failed=int(failed[0]) if failed else 0,
            event_backlog=backlog,
            event_oldest_undelivered=oldest,
            event_attempts=stream.attempts if stream and stream.url else 0,
            event_skipped=stream.skipped if stream else 0,
        )

    def _undelivered(self, stream: EventStream | None) -> tuple[int, int | None]:
        """How many events after the stream's cursor its filter would send, and the date of
        the oldest of them (index events_in_order)."""
        if stream is None or stream.url is None:
            return 0, None
        clause, params = EVENT_SORT.after(COMMIT_ORDER, stream.cursor)
        where = f"workspace_sid = ? AND {clause}"
        values: list[object] = [stream.workspace_sid, *params]
        types = stream.event_types()
        if types:
            where += f" AND event_type IN ({marks(len(types))})"
            values.extend(types)
        row = self.db.fetchone(
            f"SELECT COUNT(*), MIN(event_date) FROM events WHERE {where}", values
        )
        if row is None or not row[0]:
            return 0, None
        return int(row[0]), int(row[1])
