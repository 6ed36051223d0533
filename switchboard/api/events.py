"""Events: ListEvent and FetchEvent, the workspace's event log, newest first.

The list covers a date window, by default the 15 minutes before the engine clock's now. Pages
follow (event_date, commit order) downwards; every page URL names the window's start, so
following `next_page_url` later does not slide the window.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from switchboard.api import render
from switchboard.api.context import Call, call
from switchboard.api.params import Params, check_sid, query_params
from switchboard.errors import InvalidParameter, not_found
from switchboard.events import EVENT_TYPES
from switchboard.models import Event, Prefix, is_sid

DEFAULT_MINUTES = 15
# A century: no log reaches further back, and the window's start must stay a date.
MAX_MINUTES = 100 * 366 * 24 * 60
# Twilio redacts task attributes of events older than 43,200 minutes (30 days).
REDACT_AFTER_MS = 43_200 * 60_000
ORDER = (("event_date", True), ("seq", True), ("ordinal", True))
_SID_FILTERS = (
    ("TaskQueueSid", Prefix.TASK_QUEUE, "task_queue_sid"),
    ("TaskSid", Prefix.TASK, "task_sid"),
    ("WorkerSid", Prefix.WORKER, "worker_sid"),
    ("WorkflowSid", Prefix.WORKFLOW, "workflow_sid"),
    ("ReservationSid", Prefix.RESERVATION, "reservation_sid"),
    ("Sid", Prefix.EVENT, "sid"),
)


async def list_event(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = query_params(request)
    now = c.services.clock.now_ms()
    filters = _filters(c, ws, p)
    start, end, shown = _window(p, now)
    items, meta = c.services.pager.paginate(
        request, shown, key="events", list_id=f"events:{ws}", order=ORDER,
        fetch=lambda order, after, limit: c.store.events.find(
            ws, start=start, end=end, filters=filters, order=order, after=after, limit=limit
        ),
        key_of=lambda e: (e.event_date, e.seq, e.ordinal), base=c.base,
    )  # fmt: skip
    return render.json_response({"events": [_render(e, c.base, now) for e in items], "meta": meta})


async def fetch_event(request: Request) -> Response:
    c = call(request)
    ws, sid = c.workspace_sid(), c.path("sid")
    found = c.store.events.get(ws, sid) if is_sid(sid, Prefix.EVENT) else None
    if found is None:
        raise not_found(f"/Workspaces/{ws}/Events/{sid}")
    return render.json_response(_render(found, c.base, c.services.clock.now_ms()))


def _render(e: Event, base: str, now: int) -> dict[str, object]:
    return render.event(e, base, redact_task_attributes=now - e.event_date > REDACT_AFTER_MS)


def _filters(c: Call, ws: str, p: Params) -> dict[str, str]:
    """The column filters the query names (see storage.event_rows.EVENT_FILTER_COLUMNS)."""
    filters: dict[str, str] = {}
    event_type = p.str("EventType")
    if event_type is not None:
        if event_type not in EVENT_TYPES:
            raise InvalidParameter(
                f"EventType {event_type!r} is not a TaskRouter event type"
                " (for example reservation.created or worker.activity.update)"
            )
        filters["event_type"] = event_type
    for name, prefix, key in _SID_FILTERS:
        value = p.str(name)
        if value is not None:
            check_sid(value, prefix, name)
            filters[key] = value
    channel = p.str("TaskChannel")
    if channel is not None:
        filters["task_channel_sid"] = _task_channel_sid(c, ws, channel)
    return filters


def _task_channel_sid(c: Call, ws: str, value: str) -> str:
    """A TC SID as given (its channel may have been deleted since), or the SID of the
    channel with this unique name; a name no channel has is a mistake worth a 400."""
    if is_sid(value, Prefix.TASK_CHANNEL):
        return value
    channel = c.store.get_task_channel(ws, value)
    if channel is None:
        raise InvalidParameter(
            f"TaskChannel {value!r} is neither a TaskChannel SID nor the unique name of a"
            " task channel of this workspace"
        )
    return channel.sid


def _window(p: Params, now: int) -> tuple[int, int | None, Params]:
    """[start, end] in epoch ms, and the parameters the page URLs carry.

    StartDate wins over Minutes (Minutes counts back from now, default 15). EndDate names a
    whole second, which it includes. Without a StartDate the page URLs gain the computed one
    (to the second), so each page of one listing covers the same window."""
    minutes = p.int("Minutes", minimum=1, maximum=MAX_MINUTES)
    start = p.datetime_ms("StartDate")
    end = p.datetime_ms("EndDate")
    shown = p
    if start is None:
        start = (now - (minutes or DEFAULT_MINUTES) * 60_000) // 1000 * 1000
        shown = Params([*p.items(), ("StartDate", render.date(start) or "")])
        since = f"the start of the window, {render.date(start)} ({minutes or DEFAULT_MINUTES}"
        since += " minutes ago; give StartDate for an earlier one)"
    else:
        since = f"StartDate {render.date(start)}"
    if end is not None:
        if end % 1000 == 0:
            end += 999
        if end < start:
            raise InvalidParameter(f"EndDate {render.date(end)} is before {since}")
    return start, end, shown
