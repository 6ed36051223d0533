"""Reads for statistics: aggregates over open tasks and over a window of events.

A collaborator of `Store` (`store.statistics`), read by the statistics layer. The database
computes every figure (GROUP BY with counts, sums, minima, maxima): callers get one row per
group, never one per task or event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from switchboard.storage.database import Database
from switchboard.storage.sql import marks

# Columns a figure may be grouped by: events, and tasks.
_EVENT_COLUMNS = frozenset({"task_queue_sid", "workflow_sid", "worker_sid"})
_TASK_COLUMNS = frozenset({"task_queue_sid", "workflow_sid"})
# Above this many keys the query groups by the column and the caller picks its keys, rather
# than sending every key as a parameter.
_MAX_KEYS_IN_SQL = 500
_OPEN = ("pending", "reserved", "assigned", "wrapping")
_WAITING = ("pending", "reserved")
# When the event's task was created, and entered the event's queue: from the task's row while
# it exists, else from its own events (the row of a deleted task is gone).
_CREATED = (
    "COALESCE((SELECT t.date_created FROM tasks t WHERE t.sid = e.task_sid),"
    " (SELECT MIN(c.event_date) FROM events c WHERE c.workspace_sid = e.workspace_sid"
    " AND c.task_sid = e.task_sid AND c.event_type = 'task.created'))"
)
_ENTERED = (
    "COALESCE((SELECT t.task_queue_entered_date FROM tasks t"
    " WHERE t.sid = e.task_sid AND t.task_queue_sid = e.task_queue_sid),"
    " (SELECT MAX(q.event_date) FROM events q WHERE q.workspace_sid = e.workspace_sid"
    " AND q.task_sid = e.task_sid AND q.event_type = 'task-queue.entered'"
    " AND q.task_queue_sid = e.task_queue_sid AND q.event_date <= e.event_date))"
)


@dataclass(frozen=True, slots=True)
class EventScope:
    """The events a figure reads: a workspace's events dated within [start, end] (epoch ms,
    both ends included), grouped by `column` (None: all together), only for `keys` of that
    column when given, and only those of one task channel when `channel` is given."""

    workspace_sid: str
    start: int
    end: int
    column: str | None = None
    keys: Sequence[str] | None = None
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class Spread:
    """count, total, minimum and maximum of some durations (ms)."""

    count: int = 0
    total: int = 0
    minimum: int = 0
    maximum: int = 0


@dataclass(frozen=True, slots=True)
class WaitRow:
    """How long one group's tasks waited (from creation) until an event: `below[i]` of them
    waited at most thresholds[i] seconds; `in_queue` measures from entering the queue."""

    key: str | None
    event_type: str
    waits: Spread
    below: tuple[int, ...]
    in_queue: Spread


@dataclass(frozen=True, slots=True)
class StintRow:
    """Time (ms) spent in one activity, clipped to a window, by one group of workers."""

    key: str | None
    activity_sid: str
    stints: Spread


@dataclass(frozen=True, slots=True)
class TaskGroup:
    """Open tasks of one group with one status and priority, and the oldest of them."""

    key: str | None
    status: str
    priority: int
    count: int
    oldest_created: int
    oldest_entered: int | None


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _spread(row: Sequence[Any], at: int) -> Spread:
    count, total, low, high = row[at : at + 4]
    if not count:
        return Spread()
    return Spread(int(count), int(total or 0), int(low or 0), int(high or 0))


class StatisticsRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _json(self, source: str, field: str) -> str:
        """SQL for a top-level text field of a JSON document held in a TEXT column."""
        if self.db.dialect == "postgres":
            return f"({source}::json ->> '{field}')"
        return f"json_extract({source}, '$.{field}')"

    def _events_where(
        self, scope: EventScope, types: Sequence[str], key: str, alias: str
    ) -> tuple[str, list[Any]]:
        """WHERE conditions (and their values) for `scope`'s events of `types`, with `key`
        the SQL of the grouping key."""
        a = f"{alias}." if alias else ""
        clauses = [
            f"{a}workspace_sid = ?",
            f"{a}event_type IN ({marks(len(types))})",
            f"{a}event_date >= ?",
            f"{a}event_date <= ?",
        ]
        params: list[Any] = [scope.workspace_sid, *types, scope.start, scope.end]
        if scope.keys is not None and len(scope.keys) <= _MAX_KEYS_IN_SQL:
            clauses.append(f"{key} IN ({marks(len(scope.keys))})")
            params.extend(scope.keys)
        if scope.channel is not None:
            # Workflow and task-queue events carry the task's channel only in their data.
            channel = self._json(f"{a}data", "task_channel_sid")
            clauses.append(
                f"({a}task_channel_sid = ? OR ({a}task_channel_sid IS NULL AND {channel} = ?))"
            )
            params += [scope.channel, scope.channel]
        return " AND ".join(clauses), params

    def _event_key(self, scope: EventScope, alias: str = "") -> str:
        if scope.column is None:
            return "NULL"
        if scope.column not in _EVENT_COLUMNS:
            raise ValueError(f"events are not grouped by {scope.column}")
        return f"{alias}.{scope.column}" if alias else scope.column

    def event_counts(
        self, scope: EventScope, types: Sequence[str]
    ) -> dict[tuple[str | None, str], int]:
        """(group key, event type) → how many events of that type the group has."""
        if scope.keys is not None and not scope.keys:
            return {}
        key = self._event_key(scope)
        where, params = self._events_where(scope, types, key, "")
        group = "event_type" if scope.column is None else f"{key}, event_type"
        rows = self.db.fetchall(
            f"SELECT {key}, event_type, COUNT(*) FROM events WHERE {where} GROUP BY {group}",
            params,
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def moved_out_counts(self, scope: EventScope) -> dict[str | None, int]:
        """Queue SID → how many tasks moved from that queue to another (`scope.column` is
        ignored: a move is recorded on the queue the task went to, with the one it left)."""
        if scope.keys is not None and not scope.keys:
            return {}
        key = self._json("data", "task_queue_previous_sid")
        where, params = self._events_where(scope, ("task-queue.moved",), key, "")
        rows = self.db.fetchall(
            f"SELECT {key}, COUNT(*) FROM events WHERE {where} GROUP BY {key}", params
        )
        return {r[0]: int(r[1]) for r in rows}

    def wait_rows(
        self, scope: EventScope, thresholds: Sequence[int], *, in_queue: bool = False
    ) -> list[WaitRow]:
        """Per group: how long tasks waited from their creation until a reservation of theirs
        was accepted (`reservation.accepted`) or they were canceled (`task.canceled`), with
        how many waited at most each threshold (seconds); `in_queue` adds the accepted waits
        measured from entering the reservation's queue."""
        if scope.keys is not None and not scope.keys:
            return []
        key = self._event_key(scope, "e")
        types = ("reservation.accepted", "task.canceled")
        where, params = self._events_where(scope, types, key, "e")
        queue_wait = f"e.event_date - {_ENTERED}" if in_queue else "CAST(NULL AS BIGINT)"
        below = "".join(", SUM(CASE WHEN w <= ? THEN 1 ELSE 0 END)" for _ in thresholds)
        # MATERIALIZED: each wait is computed once, not once per aggregate that reads it.
        rows = self.db.fetchall(
            f"WITH s AS MATERIALIZED (SELECT {key} AS k, e.event_type AS t,"
            f" e.event_date - {_CREATED} AS w, {queue_wait} AS wq FROM events e WHERE {where})"
            f" SELECT k, t, COUNT(*), SUM(w), MIN(w), MAX(w), COUNT(wq), SUM(wq), MIN(wq),"
            f" MAX(wq){below} FROM s WHERE w IS NOT NULL GROUP BY k, t",
            [*params, *(seconds * 1000 for seconds in thresholds)],
        )
        return [
            WaitRow(r[0], r[1], _spread(r, 2), tuple(int(n or 0) for n in r[10:]), _spread(r, 6))
            for r in rows
        ]

    def activity_stints(
        self, workspace_sid: str, start: int, end: int, *, workers: Sequence[str] | None = None
    ) -> list[StintRow]:
        """Per (worker when `workers` is given, else all together) and activity: the
        stints that ended after `start` (each `worker.activity.update` closes the previous
        activity's stint), clipped to [start, end]; stints of no length inside it are left
        out."""
        if workers is not None and not workers:
            return []
        key = "worker_sid" if workers is not None else "NULL"
        where = "workspace_sid = ? AND event_type = 'worker.activity.update' AND event_date > ?"
        params: list[Any] = [workspace_sid, start]
        if workers is not None and len(workers) <= _MAX_KEYS_IN_SQL:
            where += f" AND worker_sid IN ({marks(len(workers))})"
            params.extend(workers)
        rows = self.db.fetchall(
            f"WITH x AS MATERIALIZED ({self._stint_source(key, where)}),"
            " y AS MATERIALIZED (SELECT k, a, (CASE WHEN d < ? THEN d ELSE ? END)"
            " - (CASE WHEN d - spent > ? THEN d - spent ELSE ? END) AS n FROM x)"
            " SELECT k, a, COUNT(*), SUM(n), MIN(n), MAX(n) FROM y"
            " WHERE n > 0 AND a IS NOT NULL GROUP BY k, a",
            [*params, end, end, start, start],
        )
        return [StintRow(r[0], r[1], _spread(r, 2)) for r in rows]

    def _stint_source(self, key: str, where: str) -> str:
        """Rows (k, d = when the stint ended, a = its activity, spent = its length in ms)."""
        activity, spent = "worker_previous_activity_sid", "worker_time_in_previous_activity_ms"
        if self.db.dialect == "postgres":  # parse each document once
            return (
                f"SELECT k, d, j ->> '{activity}' AS a, CAST(j ->> '{spent}' AS BIGINT) AS spent"
                f" FROM (SELECT {key} AS k, event_date AS d, data::json AS j FROM events"
                f" WHERE {where}) z"
            )
        return (
            f"SELECT {key} AS k, event_date AS d, {self._json('data', activity)} AS a,"
            f" CAST({self._json('data', spent)} AS BIGINT) AS spent FROM events WHERE {where}"
        )

    # -- open tasks ---------------------------------------------------------------------------

    def _tasks_where(
        self, workspace_sid: str, column: str | None, keys: Sequence[str] | None,
        channel: str | None,
    ) -> tuple[str, list[Any]]:  # fmt: skip
        if column is not None and column not in _TASK_COLUMNS:
            raise ValueError(f"tasks are not grouped by {column}")
        clauses: list[str] = []
        params: list[Any] = []
        # Queue SIDs are unique across workspaces (the caller checked they are this
        # workspace's), and leaving the workspace out keeps the queue index covering.
        if column != "task_queue_sid":
            clauses.append("workspace_sid = ?")
            params.append(workspace_sid)
        if column is not None and keys is not None:
            clauses.append(f"{column} IN ({marks(len(keys))})")
            params.extend(keys)
        if channel is not None:
            clauses.append("task_channel_sid = ?")
            params.append(channel)
        return " AND ".join(clauses), params

    def open_task_groups(
        self, workspace_sid: str, *, column: str | None = None,
        keys: Sequence[str] | None = None, channel: str | None = None,
    ) -> list[TaskGroup]:  # fmt: skip
        """Open tasks (pending, reserved, assigned, wrapping) counted per group key, status
        and priority, each group with its earliest creation (and, grouped by queue, its
        earliest queue entry)."""
        if keys is not None and not keys:
            return []
        where, params = self._tasks_where(workspace_sid, column, keys, channel)
        key = column or "NULL"
        entered = "MIN(task_queue_entered_date)" if column == "task_queue_sid" else "NULL"
        statuses = "assignment_status, priority"
        group = statuses if column is None else f"{key}, {statuses}"
        rows = self.db.fetchall(
            f"SELECT {key}, assignment_status, priority, COUNT(*), MIN(date_created), {entered}"
            f" FROM tasks WHERE {where} AND assignment_status IN ({marks(len(_OPEN))})"
            f" GROUP BY {group}",
            [*params, *_OPEN],
        )
        return [
            TaskGroup(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), _int_or_none(r[5])) for r in rows
        ]

    def first_task_created(
        self, workspace_sid: str, group: TaskGroup, *, column: str | None = None,
        channel: str | None = None,
    ) -> str | None:  # fmt: skip
        """The SID of the group's task created first (ties: the smallest SID)."""
        keys = None if group.key is None else [group.key]
        where, params = self._tasks_where(workspace_sid, column, keys, channel)
        row = self.db.fetchone(
            f"SELECT sid FROM tasks WHERE {where} AND assignment_status = ? AND priority = ?"
            " AND date_created = ? ORDER BY sid LIMIT 1",
            [*params, group.status, group.priority, group.oldest_created],
        )
        return None if row is None else str(row[0])

    def first_task_entered(
        self, queue_sid: str, entered: int, *, channel: str | None = None
    ) -> str | None:
        """The SID of the queue's waiting task that entered it at `entered` (ties: the
        smallest SID)."""
        where, params = self._tasks_where("", "task_queue_sid", [queue_sid], channel)
        row = self.db.fetchone(
            f"SELECT sid FROM tasks WHERE {where} AND assignment_status IN ({marks(2)})"
            " AND task_queue_entered_date = ? ORDER BY sid LIMIT 1",
            [*params, *_WAITING, entered],
        )
        return None if row is None else str(row[0])
