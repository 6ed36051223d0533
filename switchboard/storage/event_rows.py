"""Events: what every write did, in commit order, for the Events API, the event callback
streams, the worker SDK's push and the cumulative statistics (migration 0003).

A collaborator of `Store` (`store.events`). The engine writes a write's events together at
its end; their task and worker attributes texts are stored once apart (event_attributes.py)
and joined back by digest when events are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from switchboard.models import Event
from switchboard.storage.database import Database, Row
from switchboard.storage.event_attributes import PRUNE_MARGIN_MS, AttributeTexts
from switchboard.storage.keyset import Order, Sortable
from switchboard.storage.sql import insert_sql, qualified, where_equal

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
COMMIT_ORDER: Order = (("seq", False), ("ordinal", False))


def _event(row: Row) -> Event:
    return Event(*row)


class EventRows:
    def __init__(self, db: Database, attribute_texts: AttributeTexts) -> None:
        self.db = db
        self.attribute_texts = attribute_texts

    def insert(self, rows: Sequence[EventRow]) -> None:
        """Events as the engine writes them (see EventRow), with the write's end."""
        stored = self.attribute_texts.refer(
            self.db, rows, workspace_at=_EVENT_WORKSPACE, moment_at=_EVENT_MOMENT
        )
        # New rows, whose place among the write's statements does not matter.
        self.db.executemany_at_end(_EVENT_INSERT, stored)
        self.db.announce({str(row[_EVENT_WORKSPACE]) for row in rows})

    def in_order(
        self, workspace_sid: str, *, after_seq: int = -1, limit: int = 1000
    ) -> list[Event]:
        """Events in commit order, starting after change number `after_seq`."""
        rows = self.db.fetchall(
            f"{_EVENT_SELECT} WHERE workspace_sid = ? AND seq > ? ORDER BY seq, ordinal LIMIT ?",
            (workspace_sid, after_seq, limit),
        )
        return [_event(r) for r in rows]

    def after(self, workspace_sid: str, cursor: tuple[int, int], limit: int) -> list[Event]:
        """Up to `limit` events after `cursor` (change number, ordinal), in commit order."""
        tail, values = EVENT_SORT.page(["workspace_sid = ?"], [workspace_sid], COMMIT_ORDER, cursor)
        rows = self.db.fetchall(_EVENT_SELECT + tail, [*values, limit])
        return [_event(r) for r in rows]

    # -- the Events API -----------------------------------------------------------------------

    def get(self, workspace_sid: str, sid: str) -> Event | None:
        row = self.db.fetchone(
            f"{_EVENT_SELECT} WHERE workspace_sid = ? AND sid = ?",
            (workspace_sid, sid),
        )
        return None if row is None else _event(row)

    def find(
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
        where_equal(where, params, ((EVENT_FILTER_COLUMNS[k], v) for k, v in filters.items()))
        if start is not None:
            where.append("event_date >= ?")
            params.append(start)
        if end is not None:
            where.append("event_date <= ?")
            params.append(end)
        tail, values = EVENT_SORT.page(where, params, order, after)
        rows = self.db.fetchall(_EVENT_SELECT + tail, [*values, limit])
        return [_event(r) for r in rows]

    def prune(self, before: int, limit: int) -> int:
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
