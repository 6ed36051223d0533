"""Statistics of a workspace, its task queues (one, a page, or up to 50 at once), workflows
and workers: Statistics (both), RealTimeStatistics and CumulativeStatistics."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from switchboard import statistics as stats
from switchboard.api import render
from switchboard.api.context import Call, call
from switchboard.api.params import Params, check_sid, form_params, parse_json, query_params
from switchboard.engine.workers import WorkerFilter
from switchboard.errors import InvalidParameter, not_found
from switchboard.models import Prefix

DEFAULT_MINUTES = 15
# Statistics reach back 30 days at most (Twilio answers an older StartDate with 14241).
MAX_AGE_MINUTES = 30 * 24 * 60
TOO_OLD_CODE = 14241
MAX_BULK_QUEUES = 50
# Fifty SIDs take about 2 KB, however they are spelled; a body far larger is not a bulk request.
MAX_BULK_BODY_BYTES = 64 * 1024
MAX_THRESHOLDS = 100
MAX_THRESHOLD_SECONDS = MAX_AGE_MINUTES * 60
_THRESHOLD = re.compile(r"^[0-9]{1,10}$")
_QUEUE_ORDER = (("date_created", False), ("sid", False))


@dataclass(frozen=True, slots=True)
class Query:
    """What a cumulative request asks for: its window, task channel and wait thresholds."""

    window: stats.Window
    channel: str | None
    thresholds: tuple[int, ...]


def _window(p: Params, now: int) -> stats.Window:
    """[StartDate, EndDate], EndDate defaulting to now (and never later than now), StartDate
    to `Minutes` (default 15) before the end. StartDate wins over Minutes."""
    minutes = p.int("Minutes", minimum=1, maximum=MAX_AGE_MINUTES)
    start, end = p.datetime_ms("StartDate"), p.datetime_ms("EndDate")
    if start is not None and start > (now if end is None else end):
        other = "EndDate" if end is not None else "the current time"
        raise InvalidParameter(f"StartDate must not be later than {other}")
    end = now if end is None else min(end, now)
    if start is None:
        start = end - (minutes or DEFAULT_MINUTES) * 60_000
        name = "Minutes" if minutes is not None else "EndDate"
    else:
        name = "StartDate"
    if start < now - MAX_AGE_MINUTES * 60_000:
        raise InvalidParameter(
            f"{name}: statistics cover at most the last 30 days; the window would start at "
            f"{render.date(start)}",
            code=TOO_OLD_CODE,
        )
    return stats.Window(start, end)


def _thresholds(p: Params) -> tuple[int, ...]:
    text = p.str("SplitByWaitTime")
    if text is None:
        return ()
    values: set[int] = set()
    for part in text.split(","):
        item = part.strip()
        if not _THRESHOLD.match(item) or not 1 <= int(item) <= MAX_THRESHOLD_SECONDS:
            raise InvalidParameter(
                "SplitByWaitTime must be a comma-separated list of whole numbers of seconds"
                f" from 1 to {MAX_THRESHOLD_SECONDS}, like 5,30; {item!r} is not one"
            )
        values.add(int(item))
    if len(values) > MAX_THRESHOLDS:
        raise InvalidParameter(f"SplitByWaitTime takes at most {MAX_THRESHOLDS} thresholds")
    return tuple(sorted(values))


def _channel(c: Call, ws: str, p: Params) -> str | None:
    """The TaskChannel parameter (a channel SID or unique name) as a channel SID."""
    value = p.str("TaskChannel")
    if value is None:
        return None
    channel = c.store.get_task_channel(ws, value)
    if channel is None:
        raise InvalidParameter(f"TaskChannel {value!r} is not a task channel of this workspace")
    return channel.sid


def _query(c: Call, ws: str, p: Params, *, split: bool = True) -> Query:
    window = _window(p, c.engine.now())
    return Query(window, _channel(c, ws, p), _thresholds(p) if split else ())


def _url(c: Call, ws: str, path: str) -> str:
    return f"{c.base}/v1/Workspaces/{ws}/{path}"


def _respond(c: Call, ws: str, path: str | None, **fields: Any) -> Response:
    url = None if path is None else _url(c, ws, path)
    return render.json_response(render.statistics(c.account_sid, ws, url, **fields))


# -- workspace ------------------------------------------------------------------------------


def _workspace_real_time(c: Call, ws: str, channel: str | None) -> stats.RealTime:
    return stats.workspace_real_time(c.store, c.engine.index(ws), ws, c.engine.now(), channel)


def _workspace_cumulative(c: Call, ws: str, q: Query) -> stats.Cumulative:
    figures = stats.cumulative(c.store, ws, q.window, channel=q.channel, thresholds=q.thresholds)
    return figures[None]


async def fetch_workspace_statistics(request: Request) -> Response:
    c = call(request)
    ws, p = c.workspace_sid(), query_params(request)
    q = _query(c, ws, p)
    realtime = _workspace_real_time(c, ws, q.channel)
    cumulative = _workspace_cumulative(c, ws, q)
    return _respond(
        c, ws, "Statistics",
        cumulative=render.cumulative_figures("workspace", cumulative, nested=True),
        realtime=render.real_time_figures("workspace", realtime),
    )  # fmt: skip


async def fetch_workspace_real_time_statistics(request: Request) -> Response:
    c = call(request)
    ws, p = c.workspace_sid(), query_params(request)
    figures = _workspace_real_time(c, ws, _channel(c, ws, p))
    return _respond(c, ws, "RealTimeStatistics", **render.real_time_figures("workspace", figures))


async def fetch_workspace_cumulative_statistics(request: Request) -> Response:
    c = call(request)
    ws, p = c.workspace_sid(), query_params(request)
    q = _query(c, ws, p)
    figures = _workspace_cumulative(c, ws, q)
    return _respond(
        c, ws, "CumulativeStatistics",
        **render.cumulative_figures("workspace", figures, nested=False),
    )  # fmt: skip


# -- task queues ----------------------------------------------------------------------------


def _queue(c: Call, ws: str) -> str:
    sid = c.path("task_queue_sid")
    if c.store.get_task_queue(ws, sid) is None:
        raise not_found(f"/Workspaces/{ws}/TaskQueues/{sid}")
    return sid


def _queue_real_time(
    c: Call, ws: str, sids: list[str], channel: str | None
) -> dict[str, stats.RealTime]:
    return stats.queue_real_time(c.store, c.engine.index(ws), ws, c.engine.now(), sids, channel)


def _queue_cumulative(
    c: Call, ws: str, sids: list[str], q: Query
) -> dict[str | None, stats.Cumulative]:
    return stats.cumulative(
        c.store, ws, q.window, column="task_queue_sid", keys=sids, channel=q.channel,
        thresholds=q.thresholds,
    )  # fmt: skip


async def fetch_task_queue_statistics(request: Request) -> Response:
    c = call(request)
    ws, p = c.workspace_sid(), query_params(request)
    sid = _queue(c, ws)
    q = _query(c, ws, p)
    realtime = _queue_real_time(c, ws, [sid], q.channel)[sid]
    cumulative = _queue_cumulative(c, ws, [sid], q)[sid]
    return _respond(
        c, ws, f"TaskQueues/{sid}/Statistics",
        cumulative=render.cumulative_figures("task_queue", cumulative, nested=True),
        realtime=render.real_time_figures("task_queue", realtime), task_queue_sid=sid,
    )  # fmt: skip


async def fetch_task_queue_real_time_statistics(request: Request) -> Response:
    c = call(request)
    ws, p = c.workspace_sid(), query_params(request)
    sid = _queue(c, ws)
    figures = _queue_real_time(c, ws, [sid], _channel(c, ws, p))[sid]
    return _respond(
        c, ws, f"TaskQueues/{sid}/RealTimeStatistics",
        **render.real_time_figures("task_queue", figures), task_queue_sid=sid,
    )  # fmt: skip


async def fetch_task_queue_cumulative_statistics(request: Request) -> Response:
    c = call(request)
    ws, p = c.workspace_sid(), query_params(request)
    sid = _queue(c, ws)
    figures = _queue_cumulative(c, ws, [sid], _query(c, ws, p))[sid]
    return _respond(
        c, ws, f"TaskQueues/{sid}/CumulativeStatistics",
        **render.cumulative_figures("task_queue", figures, nested=False), task_queue_sid=sid,
    )  # fmt: skip


async def list_task_queues_statistics(request: Request) -> Response:
    """One page of queues (FriendlyName: exact name), each with both kinds of figures."""
    c = call(request)
    ws, p = c.workspace_sid(), query_params(request)
    q = _query(c, ws, p)
    name = p.str("FriendlyName")
    queues, meta = c.services.pager.paginate(
        request, p, key="task_queues_statistics", list_id=f"task_queues_statistics:{ws}",
        order=_QUEUE_ORDER,
        fetch=lambda order, after, limit: c.store.list_task_queues(
            ws, friendly_name=name, order=order, after=after, limit=limit
        ),
        key_of=lambda queue: (queue.date_created, queue.sid), base=c.base,
    )  # fmt: skip
    sids = [queue.sid for queue in queues]
    realtime = _queue_real_time(c, ws, sids, q.channel)
    cumulative = _queue_cumulative(c, ws, sids, q)
    items = [
        render.statistics(
            c.account_sid,
            ws,
            None,
            cumulative=render.cumulative_figures("task_queue", cumulative[sid], nested=True),
            realtime=render.real_time_figures("task_queue", realtime[sid]),
            task_queue_sid=sid,
        )
        for sid in sids
    ]
    return render.json_response({"task_queues_statistics": items, "meta": meta})


async def _bulk_queue_sids(request: Request) -> list[str]:
    """The queue SIDs of a bulk request: a JSON body {"QueueSids": [...]} (the Python SDK
    sends whatever the caller's object's to_dict() gives; Twilio's docs spell the key both
    QueueSids and queueSids, so either is read), or QueueSids form fields."""
    body = await request.body()
    if len(body) > MAX_BULK_BODY_BYTES:
        raise InvalidParameter(
            f"The request body is {len(body)} bytes; a bulk request of {MAX_BULK_QUEUES}"
            f" QueueSids takes far less than {MAX_BULK_BODY_BYTES}"
        )
    if "json" in request.headers.get("content-type", "") or body.lstrip().startswith(b"{"):
        document = parse_json(body or b"{}", "The request body")
        if not isinstance(document, dict):
            raise InvalidParameter('The request body must be a JSON object: {"QueueSids": [...]}')
        values = document.get("QueueSids", document.get("queueSids"))
    else:
        p = await form_params(request)
        values = p.list("QueueSids") or p.list("queueSids") or None
    if values is None:
        raise InvalidParameter("Missing required parameter QueueSids")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidParameter("QueueSids must be an array of TaskQueue SIDs")
    if not 1 <= len(values) <= MAX_BULK_QUEUES:
        raise InvalidParameter(
            f"QueueSids must name 1 to {MAX_BULK_QUEUES} TaskQueue SIDs, not {len(values)}"
        )
    for value in values:
        check_sid(value, Prefix.TASK_QUEUE, "QueueSids")
    return list(dict.fromkeys(values))


async def create_task_queue_bulk_real_time_statistics(request: Request) -> Response:
    """Real-time figures of up to 50 queues; a well-formed SID that is not one of this
    workspace's queues gets all-zero figures, as Twilio documents. Answers 200."""
    c = call(request)
    ws = c.workspace_sid()
    c.services.rate_limits.check(c.account_sid, "TaskQueuesRealTimeStatistics")
    sids = await _bulk_queue_sids(request)
    view = c.engine.index(ws)
    known = [sid for sid in sids if sid in view.queues]
    figures = stats.queue_real_time(c.store, view, ws, c.engine.now(), known, None)
    zero = stats.zero_real_time(view)
    data = [
        {"task_queue_sid": sid,
         **render.real_time_figures("task_queue_bulk", figures.get(sid, zero))}
        for sid in sids
    ]  # fmt: skip
    return _respond(
        c, ws, "TaskQueues/RealTimeStatistics",
        task_queue_data=data, task_queue_response_count=len(data),
    )  # fmt: skip


# -- workflows ------------------------------------------------------------------------------


def _workflow(c: Call, ws: str) -> str:
    sid = c.path("workflow_sid")
    if c.store.workflows.get(ws, sid) is None:
        raise not_found(f"/Workspaces/{ws}/Workflows/{sid}")
    return sid


def _workflow_cumulative(c: Call, ws: str, sid: str, q: Query) -> stats.Cumulative:
    return stats.cumulative(
        c.store, ws, q.window, column="workflow_sid", keys=[sid], channel=q.channel,
        thresholds=q.thresholds,
    )[sid]  # fmt: skip


async def fetch_workflow_statistics(request: Request) -> Response:
    c = call(request)
    ws, p = c.workspace_sid(), query_params(request)
    sid = _workflow(c, ws)
    q = _query(c, ws, p)
    realtime = stats.workflow_real_time(c.store, ws, c.engine.now(), sid, q.channel)
    cumulative = _workflow_cumulative(c, ws, sid, q)
    return _respond(
        c, ws, f"Workflows/{sid}/Statistics",
        cumulative=render.cumulative_figures("workflow", cumulative, nested=True),
        realtime=render.real_time_figures("workflow", realtime), workflow_sid=sid,
    )  # fmt: skip


async def fetch_workflow_real_time_statistics(request: Request) -> Response:
    c = call(request)
    ws, p = c.workspace_sid(), query_params(request)
    sid = _workflow(c, ws)
    figures = stats.workflow_real_time(c.store, ws, c.engine.now(), sid, _channel(c, ws, p))
    return _respond(
        c, ws, f"Workflows/{sid}/RealTimeStatistics",
        **render.real_time_figures("workflow", figures), workflow_sid=sid,
    )  # fmt: skip


async def fetch_workflow_cumulative_statistics(request: Request) -> Response:
    c = call(request)
    ws, p = c.workspace_sid(), query_params(request)
    sid = _workflow(c, ws)
    figures = _workflow_cumulative(c, ws, sid, _query(c, ws, p))
    return _respond(
        c, ws, f"Workflows/{sid}/CumulativeStatistics",
        **render.cumulative_figures("workflow", figures, nested=False), workflow_sid=sid,
    )  # fmt: skip


# -- workers --------------------------------------------------------------------------------


def _selected_workers(c: Call, ws: str, p: Params) -> set[str] | None:
    """The workers FriendlyName (any case), TaskQueueSid and TaskQueueName select, as the
    Workers list filters them; None when no filter is given (every worker, deleted ones
    included in cumulative figures)."""
    where = WorkerFilter(
        friendly_name=p.str("FriendlyName"),
        task_queue_name=p.str("TaskQueueName"),
        task_queue_sid=p.sid("TaskQueueSid", Prefix.TASK_QUEUE),
    )
    if where == WorkerFilter():
        return None
    return {worker.sid for worker in c.engine.workers.select_workers(ws, where).workers}


def _workers_cumulative(
    c: Call, ws: str, q: Query, workers: set[str] | None
) -> stats.WorkersCumulative:
    return stats.workers_cumulative(
        c.store, c.engine.index(ws), ws, q.window, workers=workers, channel=q.channel
    )


async def fetch_worker_statistics(request: Request) -> Response:
    """GET /Workers/Statistics (FetchWorkerStatistics): every worker, or those selected."""
    c = call(request)
    ws, p = c.workspace_sid(), query_params(request)
    q = _query(c, ws, p, split=False)
    workers = _selected_workers(c, ws, p)
    realtime = stats.workers_real_time(c.engine.index(ws), workers)
    cumulative = _workers_cumulative(c, ws, q, workers)
    return _respond(
        c, ws, "Workers/Statistics",
        cumulative=render.workers_cumulative_figures(cumulative),
        realtime=render.real_time_figures("workers", realtime),
    )  # fmt: skip


async def fetch_workers_real_time_statistics(request: Request) -> Response:
    c = call(request)
    ws, p = c.workspace_sid(), query_params(request)
    _channel(c, ws, p)  # checked, though worker counts do not depend on it
    with await c.index_as_of(ws):
        figures = stats.workers_real_time(c.engine.index(ws), None)
    return _respond(
        c, ws, "Workers/RealTimeStatistics", **render.real_time_figures("workers", figures)
    )


async def fetch_workers_cumulative_statistics(request: Request) -> Response:
    c = call(request)
    ws, p = c.workspace_sid(), query_params(request)
    figures = _workers_cumulative(c, ws, _query(c, ws, p, split=False), None)
    return _respond(
        c, ws, "Workers/CumulativeStatistics", **render.workers_cumulative_figures(figures)
    )


async def fetch_worker_instance_statistics(request: Request) -> Response:
    """GET /Workers/{WorkerSid}/Statistics: one worker's cumulative figures."""
    c = call(request)
    ws, p = c.workspace_sid(), query_params(request)
    sid = c.path("worker_sid")
    if c.store.get_worker(ws, sid) is None:
        raise not_found(f"/Workspaces/{ws}/Workers/{sid}")
    figures = _workers_cumulative(c, ws, _query(c, ws, p, split=False), {sid})
    return _respond(
        c, ws, f"Workers/{sid}/Statistics",
        cumulative=render.workers_cumulative_figures(figures), worker_sid=sid,
    )  # fmt: skip
