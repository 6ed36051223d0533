"""The event callback streams (migration 0003): one per workspace with an EventCallbackUrl.

A collaborator of `Store` (`store.event_streams`). A stream's row holds its cursor (the last
event delivered or skipped, in commit order) and who delivers it (a lease), so delivery
resumes after a restart and only one process sends a workspace's events at a time. The
engine keeps it in step with the workspace inside its writes; the sender
(`outbound/event_callbacks.py`) moves the cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from switchboard.storage.database import Database, Row
from switchboard.storage.event_rows import COMMIT_ORDER, EVENT_SORT
from switchboard.storage.sql import marks

_STREAM_COLUMNS = (
    "workspace_sid, account_sid, url, events_filter, deleted, cursor_seq, cursor_ordinal,"
    " attempts, last_error, next_attempt, delivered, last_delivered, lease_owner, lease_until,"
    " skipped, last_skipped"
)


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


class EventStreamRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- kept in step with the workspace, inside the engine's write ---------------------------

    def track(
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
        stream = self.get(workspace_sid)
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

    def end(self, workspace_sid: str) -> None:
        """The workspace is being deleted: a stream with a URL stays to deliver what is left
        (its workspace.deleted event), one without is dropped."""
        self.db.execute(
            "DELETE FROM event_deliveries WHERE workspace_sid = ? AND url IS NULL",
            (workspace_sid,),
        )
        self.db.execute(
            "UPDATE event_deliveries SET deleted = 1 WHERE workspace_sid = ?", (workspace_sid,)
        )

    # -- the sender's side --------------------------------------------------------------------

    def get(self, workspace_sid: str) -> EventStream | None:
        row = self.db.fetchone(
            f"SELECT {_STREAM_COLUMNS} FROM event_deliveries WHERE workspace_sid = ?",
            (workspace_sid,),
        )
        return None if row is None else _stream(row)

    def due(self, now: int, limit: int) -> list[str]:
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

    def next_attempt(self, now: int) -> int | None:
        """The earliest retry still to come (wall-clock ms), or None."""
        row = self.db.fetchone(
            "SELECT MIN(next_attempt) FROM event_deliveries"
            " WHERE next_attempt > ? AND url IS NOT NULL",
            (now,),
        )
        return None if row is None or row[0] is None else int(row[0])

    def claim(self, workspace_sid: str, owner: str, now: int, lease_ms: int) -> bool:
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

    def release(self, workspace_sid: str, owner: str) -> None:
        self.db.execute(
            "UPDATE event_deliveries SET lease_owner = NULL, lease_until = 0"
            " WHERE workspace_sid = ? AND lease_owner = ?",
            (workspace_sid, owner),
        )

    def advance(
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

    def renew_leases(self, owner: str, until: int) -> None:
        """Extend every lease `owner` holds to `until` (it is still at work on them)."""
        self.db.execute(
            "UPDATE event_deliveries SET lease_until = ? WHERE lease_owner = ?", (until, owner)
        )

    def skip(self, workspace_sid: str, owner: str, cursor: tuple[int, int], note: str) -> bool:
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

    def fail(self, workspace_sid: str, owner: str, error: str, next_attempt: int) -> None:
        """Record a failed send of the head event; it is retried at `next_attempt`."""
        self.db.execute(
            "UPDATE event_deliveries SET attempts = attempts + 1, last_error = ?,"
            " next_attempt = ?, lease_owner = NULL, lease_until = 0"
            " WHERE workspace_sid = ? AND lease_owner = ?",
            (error[:1000], next_attempt, workspace_sid, owner),
        )

    def drop(self, workspace_sid: str) -> None:
        """Forget a deleted workspace's stream and the events it kept."""
        with self.db.transaction(workspace_sid):
            self.db.execute("DELETE FROM events WHERE workspace_sid = ?", (workspace_sid,))
            self.db.execute(
                "DELETE FROM event_deliveries WHERE workspace_sid = ?", (workspace_sid,)
            )

    def backlog(self, stream: EventStream) -> int:
        """How many events after the stream's cursor its filter would send."""
        clause, params = EVENT_SORT.after(COMMIT_ORDER, stream.cursor)
        where = ["workspace_sid = ?", clause]
        values: list[Any] = [stream.workspace_sid, *params]
        types = stream.event_types()
        if types:
            where.append(f"event_type IN ({marks(len(types))})")
            values.extend(types)
        row = self.db.fetchone(f"SELECT COUNT(*) FROM events WHERE {' AND '.join(where)}", values)
        return int(row[0]) if row else 0
