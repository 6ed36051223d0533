"""Workers: CreateWorker, FetchWorker, UpdateWorker, DeleteWorker, ListWorker."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from switchboard.api import params, render
from switchboard.api.context import call
from switchboard.api.params import Params, form_params, query_params
from switchboard.engine.workers import Order, WorkerFilter, sort_key
from switchboard.errors import not_found
from switchboard.models import MAX_ATTRIBUTES_CHARS, MAX_FRIENDLY_NAME, Prefix, is_sid

# Ordering: `Field[:asc|:desc]`, comma-chained, as TaskRouter writes it for tasks
# (`Priority:desc,DateCreated:asc`), and as ListTaskQueue takes it here: names and directions
# are case-sensitive, a field may not repeat, and one without a direction is ascending. The
# worker SID breaks ties, running the way the last field runs, so `X:desc` lists exactly the
# reverse of `X:asc` (and a one-direction order keeps the list's fast path).
ORDERING_FIELDS = {
    "DateCreated": "date_created",
    "DateUpdated": "date_updated",
    "DateStatusChanged": "date_status_changed",
    "FriendlyName": "friendly_name",
}
DEFAULT_ORDER: Order = (("date_created", False), ("sid", False))


def parse_ordering(text: str | None) -> Order:
    """The list order an Ordering value asks for (DateCreated:asc when absent)."""
    order = params.parse_ordering(
        text, ORDERING_FIELDS, example="DateStatusChanged:desc,FriendlyName:asc"
    )
    if not order:
        return DEFAULT_ORDER
    return (*order, ("sid", order[-1][1]))


def if_match(request: Request) -> str | None:
    """The If-Match header; an empty one sets no precondition."""
    value = request.headers.get("if-match", "").strip()
    return value or None


def _attributes(p: Params) -> str | None:
    return p.json_object("Attributes", max_chars=MAX_ATTRIBUTES_CHARS)


async def create_worker(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = await form_params(request)
    await c.before_write(ws)
    worker = c.engine.workers.create_worker(
        ws,
        friendly_name=p.required("FriendlyName", max_length=MAX_FRIENDLY_NAME),
        activity_sid=p.sid("ActivitySid", Prefix.ACTIVITY),
        attributes=_attributes(p) or "{}",
    )
    return render.json_response(render.worker(worker, c.base), 201, render.etag(worker.version))


async def fetch_worker(request: Request) -> Response:
    c = call(request)
    ws, sid = c.path("workspace_sid"), c.path("sid")
    # The hot path: one query that also checks the workspace is the caller's; only a miss
    # asks which of the two is missing.
    worker = (
        await c.read_answer(c.store.get_account_worker, c.account_sid, ws, sid)
        if is_sid(sid, Prefix.WORKER)
        else None
    )
    if worker is None:
        raise not_found(f"/Workspaces/{c.workspace_sid()}/Workers/{sid}")
    return render.json_response(render.worker(worker, c.base), headers=render.etag(worker.version))


async def update_worker(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = await form_params(request)
    await c.before_write(ws)
    worker = c.engine.workers.update_worker(
        ws,
        c.path("sid"),
        friendly_name=p.str("FriendlyName", max_length=MAX_FRIENDLY_NAME),
        activity_sid=p.sid("ActivitySid", Prefix.ACTIVITY),
        attributes=_attributes(p),
        reject_pending_reservations=p.bool("RejectPendingReservations"),
        if_match=if_match(request),
    )
    return render.json_response(render.worker(worker, c.base), headers=render.etag(worker.version))


async def delete_worker(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    await c.before_write(ws)
    c.engine.workers.delete_worker(ws, c.path("sid"), if_match=if_match(request))
    return render.no_content()


def _filter(p: Params) -> WorkerFilter:
    return WorkerFilter(
        activity_name=p.str("ActivityName"),
        activity_sid=p.sid("ActivitySid", Prefix.ACTIVITY),
        available=p.bool("Available", lenient=True),
        friendly_name=p.str("FriendlyName"),
        target_workers_expression=p.str("TargetWorkersExpression"),
        task_queue_name=p.str("TaskQueueName"),
        task_queue_sid=p.sid("TaskQueueSid", Prefix.TASK_QUEUE),
    )


async def list_worker(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = query_params(request)
    if "TargetWorkersExpression" in p:
        c.services.rate_limits.check(c.account_sid, "TargetWorkersExpression")
    order = parse_ordering(p.str("Ordering"))
    where = _filter(p)
    with await c.index_as_of(ws):
        selection = c.engine.workers.select_workers(ws, where)
    # The order is part of the list's identity, so a token never resumes another ordering.
    ordering = ",".join(f"{f}:{'desc' if d else 'asc'}" for f, d in order)
    items, meta = c.services.pager.paginate(
        request, p, key="workers", list_id=f"workers:{ws}:{ordering}", order=order,
        fetch=selection.page, key_of=sort_key(order), base=c.base,
    )  # fmt: skip
    attributes = c.services.settings.list_attributes
    return render.json_response(
        {"workers": [render.worker(w, c.base, attributes=attributes) for w in items], "meta": meta}
    )
