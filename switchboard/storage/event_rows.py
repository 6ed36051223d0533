"""Store methods for the Events API and the event callback streams (migration 0003).

Mixed into `Store`. A stream row per workspace with an EventCallbackUrl holds its cursor (the
last event delivered or skipped, in commit order) and who delivers it (a lease), so delivery
resumes after a restart and only one process sends a workspace's events at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from switchboard.models import Event
from switchboard.storage.database import Database, Row
from switchboard.storage.event_attributes import PRUNE_MARGIN_MS, AttributeTexts
from switchboard.storage.keyset import Order, Sortable
from switchboard.storage.sql import insert_sql, marks, qualified

# The events table's own columns: Event's fields up to the attributes texts, which are
# stored apart (event_attributes.py) and joined back by digest.
_EVENT_COLUMNS = ", ".join(Event._fields[: Event._fields.index("task_attributes")])
# The engine writes events as the records they are read back as.
EventRow = Event

_EVENT_WORKSPACE = EventRow._fields.index("workspace_sid")
_EVENT_MOMENT = EventRow._fields.index("event_date")
_EVENT_INSERT = insert_sql(
    "events", f"{_EVENT_COLUMNS}, task_attributes_digest, worker_attributes_digest"
)
# Events read back with their attributes texts (Event's fields, in order). Filters and orders
# name events' own columns; event_attributes shares none of their names.
_EVENT_SELECT = (
    f"SELECT {qualified('e', _EVENT_COLUMNS)}, ta.attributes, wa.attributes FROM events e"
    " LEFT JOIN event_attributes ta ON ta.digest = e.task_attributes_digest"
    " LEFT JOIN event_attributes wa ON wa.digest = e.worker_attributes_digest"
)
_STREAM_COLUMNS = (
    "workspace_sid, account_sid, url, events_filter, deleted, cursor_seq, cursor_ordinal,"
    " attempts, last_error, next_attempt, delivered, last_delivered, lease_owner, lease_until,"
    " skipped, last_skipped"
)
# Events list filters: keyword → column (each has an index, see 0003_events.sql).
EVENT_FILTER_COLUMNS = {
    "event_type": "event_type",
    "task_sid": "task_sid",
    "worker_sid": "worker_sid",
    "reservation_sid": "reservation_sid",
    "task_queue_sid": "task_queue_sid",
    "workflow_sid": "workflow_sid",
    "task_channel_sid": "task_channel_sid",
    "sid": "sid",
}
# Fields the Events list may be sorted by (events' own columns, named as Event names them).
EVENT_SORT = Sortable.of(_EVENT_COLUMNS)
# Commit order; the cursor (N, -1) stands before every event of change number N.
_COMMIT_ORDER: Order = (("seq", False), ("ordinal", False))


@dataclass(frozen=True)
class EventStream:
    """One workspace's event callback stream (times are wall-clock epoch ms)."""

    workspace_sid: str
    account_sid: str
    url: str | None
    events_filter: str | None
    deleted: bool
    cursor: tuple[int, int]
    attempts: int
    last_error: str | None
    next_attempt: int
    delivered: int
    last_delivered: int | None
    lease_owner: str | None
    lease_until: int
    skipped: int = 0
    last_skipped: str | None = None

    def wants(self, event_type: str) -> bool:
        """Whether the workspace's EventsFilter lets this type through (no filter: all)."""
        return not self.events_filter or event_type in self.event_types()

    def event_types(self) -> list[str]:
        return [t for t in (self.events_filter or "").split(",") if t]


def _stream(row: Row) -> EventStream:
    return EventStream(
        row[0],
        row[1],
        row[2],
        row[3],
        bool(row[4]),
        (int(row[5]), int(row[6])),
        int(row[7]),
        row[8],
        int(row[9]),
        int(row[10]),
        row[11],
        row[12],
        int(row[13]),
        int(row[14]),
        row[15],
    )


def _event(row: Row) -> Event:
    return Event(*row)


class EventRows:
    db: Database
    attribute_texts: AttributeTexts

    def insert_event_rows(self, rows: Sequence[EventRow]) -> None:
        """Events as the engine writes them (see EventRow), in one statement or stream."""
        stored = self.attribute_texts.refer(
            self.db, rows, workspace_at=_EVENT_WORKSPACE, moment_at=_EVENT_MOMENT
        )
        # New rows, whose place among the write's statements does not matter.
        self.db.executemany_at_end(_EVENT_INSERT, stored)
        self.db.announce({str(row[_EVENT_WORKSPACE]) for row in rows})

    def list_events(
        self, workspace_sid: str, *, after_seq: int = -1, limit: int = 1000
    ) -> list[Event]:
        """Events in commit order, starting after change number `after_seq`."""
        rows = self.db.fetchall(
            f"{_EVENT_SELECT} WHERE workspace_sid = ? AND seq > ? ORDER BY seq, ordinal LIMIT ?",
            (workspace_sid, after_seq, limit),
        )
        return [_event(r) for r in rows]

    # -- the Events API -----------------------------------------------------------------------

    def get_event(self, workspace_sid: str, sid: str) -> Event | None:
        row = self.db.fetchone(
            f"{_EVENT_SELECT} WHERE workspace_sid = ? AND sid = ?",
            (workspace_sid, sid),
        )
        return None if row is None else _event(row)

    def list_event_page(
        self,
        workspace_sid: str,
        *,
        start: int | None,
        end: int | None,
        filters: dict[str, str],
        order: Order,
        after: Sequence[Any] | None,
        limit: int,
    ) -> list[Event]:
        """Events of the workspace dated within [start, end] (either may be open) that match
        every filter (keys of EVENT_FILTER_COLUMNS), one keyset page in `order`."""
        where: list[str] = ["workspace_sid = ?"]
        params: list[Any] = [workspace_sid]
        for key, value in filters.items():
            where.append(f"{EVENT_FILTER_COLUMNS[key]} = ?")
            params.append(value)
        if start is not None:
            where.append("event_date >= ?")
            params.append(start)
        if end is not None:
            where.append("event_date <= ?")
            params.append(end)
        tail, values = EVENT_SORT.page(where, params, order, after)
        rows = self.db.fetchall(_EVENT_SELECT + tail, [*values, limit])
        return [_event(r) for r in rows]

    def prune_events(self, before: int, limit: int) -> int:
        """Delete up to `limit` events dated before `before` (any workspace), and up to `limit`
        attributes texts no event kept can refer to; returns the larger count."""
        events = self.db.execute(
            # Per workspace, so the (workspace, date) index answers it.
            "DELETE FROM events WHERE sid IN (SELECT sid FROM events WHERE workspace_sid IN"
            " (SELECT sid FROM workspaces) AND event_date < ? LIMIT ?)",
            (before, limit),
        )
        texts = self.db.execute(
            "DELETE FROM event_attributes WHERE digest IN (SELECT digest FROM event_attributes"
            " WHERE last_used < ? LIMIT ?)",
            (before - PRUNE_MARGIN_MS, limit),
        )
        return max(events, texts)

    # -- streams: kept in step with the workspace, inside the engine's write ------------------

    def track_event_callback(
        self,
        workspace_sid: str,
        account_sid: str,
        url: str | None,
        events_filter: str | None,
        seq: int,
    ) -> None:
        """Follow the workspace's EventCallbackUrl and EventsFilter as of change `seq`.

        A URL set where there was none starts the stream at change `seq`: that change's own
        events are the first delivered, nothing earlier is. A new URL replacing another keeps
        the cursor (the backlog goes to the new URL) and retries at once; clearing it pauses
        the stream, and setting one again later starts afresh."""
        stream = self.event_stream(workspace_sid)
        if stream is None:
            if url:
                self.db.execute(
                    "INSERT INTO event_deliveries (workspace_sid, account_sid, url,"
                    " events_filter, cursor_seq, cursor_ordinal) VALUES (?, ?, ?, ?, ?, -1)",
                    (workspace_sid, account_sid, url, events_filter, seq),
                )
            return
        if url and not stream.url:
            self.db.execute(
                "UPDATE event_deliveries SET url = ?, events_filter = ?, cursor_seq = ?,"
                " cursor_ordinal = -1, attempts = 0, last_error = NULL, next_attempt = 0"
                " WHERE workspace_sid = ?",
                (url, events_filter, seq, workspace_sid),
            )
        elif url != stream.url:
            self.db.execute(
                "UPDATE event_deliveries SET url = ?, events_filter = ?, attempts = 0,"
                " next_attempt = 0 WHERE workspace_sid = ?",
                (url or None, events_filter, workspace_sid),
            )
        elif events_filter != stream.events_filter:
            self.db.execute(
                "UPDATE event_deliveries SET events_filter = ? WHERE workspace_sid = ?",
                (events_filter, workspace_sid),
            )

    def end_event_stream(self, workspace_sid: str) -> None:
        """The workspace is being deleted: a stream with a URL stays to deliver what is left
        (its workspace.deleted event), one without is dropped."""
        self.db.execute(
            "DELETE FROM event_deliveries WHERE workspace_sid = ? AND url IS NULL",
            (workspace_sid,),
        )
        self.db.execute(
            "UPDATE event_deliveries SET deleted = 1 WHERE workspace_sid = ?", (workspace_sid,)
        )

    # -- streams: the sender's side -----------------------------------------------------------

    def event_stream(self, workspace_sid: str) -> EventStream | None:
        row = self.db.fetchone(
            f"SELECT {_STREAM_COLUMNS} FROM event_deliveries WHERE workspace_sid = ?",
            (workspace_sid,),
        )
        return None if row is None else _stream(row)

    def due_event_streams(self, now: int, limit: int) -> list[str]:
        """Workspaces whose stream has something to do now (events after its cursor, or a
        deleted workspace to finish) and that no live lease holds; longest waiting first."""
        rows = self.db.fetchall(
            "SELECT d.workspace_sid FROM event_deliveries d"
            " WHERE d.url IS NOT NULL AND d.next_attempt <= ?"
            " AND (d.lease_owner IS NULL OR d.lease_until <= ?)"
            " AND (d.deleted = 1 OR EXISTS (SELECT 1 FROM events e"
            "  WHERE e.workspace_sid = d.workspace_sid AND (e.seq > d.cursor_seq"
            "  OR (e.seq = d.cursor_seq AND e.ordinal > d.cursor_ordinal))))"
            " ORDER BY d.next_attempt, d.workspace_sid LIMIT ?",
            (now, now, limit),
        )
        return [r[0] for r in rows]

    def next_event_attempt(self, now: int) -> int | None:
        """The earliest retry still to come (wall-clock ms), or None."""
        row = self.db.fetchone(
            "SELECT MIN(next_attempt) FROM event_deliveries"
            " WHERE next_attempt > ? AND url IS NOT NULL",
            (now,),
        )
        return None if row is None or row[0] is None else int(row[0])

    def claim_event_stream(self, workspace_sid: str, owner: str, now: int, lease_ms: int) -> bool:
        """Take (or renew) the stream's lease for `lease_ms` if it is free, expired or ours
        and not waiting for a retry. One UPDATE: two processes cannot both succeed."""
        return (
            self.db.execute(
                "UPDATE event_deliveries SET lease_owner = ?, lease_until = ?"
                " WHERE workspace_sid = ? AND url IS NOT NULL AND next_attempt <= ?"
                " AND (lease_owner IS NULL OR lease_owner = ? OR lease_until <= ?)",
                (owner, now + lease_ms, workspace_sid, now, owner, now),
            )
            == 1
        )

    def release_event_stream(self, workspace_sid: str, owner: str) -> None:
        self.db.execute(
            "UPDATE event_deliveries SET lease_owner = NULL, lease_until = 0"
            " WHERE workspace_sid = ? AND lease_owner = ?",
            (workspace_sid, owner),
        )

    def events_after(self, workspace_sid: str, cursor: tuple[int, int], limit: int) -> list[Event]:
        """Up to `limit` events after `cursor`, in commit order."""
        tail, values = EVENT_SORT.page(
            ["workspace_sid = ?"], [workspace_sid], _COMMIT_ORDER, cursor
        )
        rows = self.db.fetchall(_EVENT_SELECT + tail, [*values, limit])
        return [_event(r) for r in rows]

    def advance_event_stream(
        self,
        workspace_sid: str,
        owner: str,
        cursor: tuple[int, int],
        *,
        delivered: int,
        now: int,
    ) -> bool:
        """Move the cursor forward to `cursor` (never back) while `owner` holds the lease,
        counting `delivered` sends; a success clears the failure count. False when the lease
        was lost (another process has the stream now)."""
        seq, ordinal = cursor
        last = now if delivered else None
        return (
            self.db.execute(
                "UPDATE event_deliveries SET cursor_seq = ?, cursor_ordinal = ?,"
                " delivered = delivered + ?, last_delivered = COALESCE(?, last_delivered),"
                " attempts = 0, last_error = NULL, next_attempt = 0"
                " WHERE workspace_sid = ? AND lease_owner = ?"
                " AND (cursor_seq < ? OR (cursor_seq = ? AND cursor_ordinal < ?))",
                (seq, ordinal, delivered, last, workspace_sid, owner, seq, seq, ordinal),
            )
            == 1
        )

    def renew_event_leases(self, owner: str, until: int) -> None:
        """Extend every lease `owner` holds to `until` (it is still at work on them)."""
        self.db.execute(
            "UPDATE event_deliveries SET lease_until = ? WHERE lease_owner = ?", (until, owner)
        )

    def skip_event(
        self, workspace_sid: str, owner: str, cursor: tuple[int, int], note: str
    ) -> bool:
        """Move the cursor past an event that will not be delivered (never back), counting it
        as skipped with `note`, while `owner` holds the lease; False when the lease was lost."""
        seq, ordinal = cursor
        return (
            self.db.execute(
                "UPDATE event_deliveries SET cursor_seq = ?, cursor_ordinal = ?,"
                " skipped = skipped + 1, last_skipped = ?, attempts = 0, last_error = NULL,"
                " next_attempt = 0 WHERE workspace_sid = ? AND lease_owner = ?"
                " AND (cursor_seq < ? OR (cursor_seq = ? AND cursor_ordinal < ?))",
                (seq, ordinal, note[:1000], workspace_sid, owner, seq, seq, ordinal),
            )
            == 1
        )

    def fail_event_stream(
        self, workspace_sid: str, owner: str, error: str, next_attempt: int
    ) -> None:
        """Record a failed send of the head event; it is retried at `next_attempt`."""
        self.db.execute(
            "UPDATE event_deliveries SET attempts = attempts + 1, last_error = ?,"
            " next_attempt = ?, lease_owner = NULL, lease_until = 0"
            " WHERE workspace_sid = ? AND lease_owner = ?",
            (error[:1000], next_attempt, workspace_sid, owner),
        )

    def drop_event_stream(self, workspace_sid: str) -> None:
        """Forget a deleted workspace's stream and the events it kept."""
        with self.db.transaction(workspace_sid):
            self.db.execute("DELETE FROM events WHERE workspace_sid = ?", (workspace_sid,))
            self.db.execute(
                "DELETE FROM event_deliveries WHERE workspace_sid = ?", (workspace_sid,)
            )

    def event_backlog(self, stream: EventStream) -> int:
        """How many events after the stream's cursor its filter would send."""
        clause, params = EVENT_SORT.after(_COMMIT_ORDER, stream.cursor)
        where = ["workspace_sid = ?", clause]
        values: list[Any] = [stream.workspace_sid, *params]
        types = stream.event_types()
        if types:
            where.append(f"event_type IN ({marks(len(types))})")
            values.extend(types)
        row = self.db.fetchone(f"SELECT COUNT(*) FROM events WHERE {' AND '.join(where)}", values)
        return int(row[0]) if row else 0
