"""Task queues: CreateTaskQueue, FetchTaskQueue, UpdateTaskQueue, DeleteTaskQueue and
ListTaskQueue with its FriendlyName, EvaluateWorkerAttributes, WorkerSid and Ordering filters."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from switchboard.api import params, render
from switchboard.api.context import call
from switchboard.api.pagination import Order
from switchboard.api.params import Params, check_sid, form_params, query_params
from switchboard.engine import Engine
from switchboard.engine.task_queues import DEFAULT_TARGET_WORKERS, QueueChanges
from switchboard.errors import not_found
from switchboard.models import MAX_ATTRIBUTES_CHARS, MAX_FRIENDLY_NAME, Prefix, TaskOrder
from switchboard.models import MAX_RESERVED_WORKERS as MAX_RESERVED

_ORDERS = [o.value for o in TaskOrder]
# Ordering: `Field[:asc|:desc]`, comma-chained; the SID breaks the remaining ties.
_ORDERING_COLUMNS = {
    "DateCreated": "date_created",
    "DateUpdated": "date_updated",
    "FriendlyName": "friendly_name",
}
_DEFAULT_ORDER: Order = (("date_created", False), ("sid", False))


def _activity_sid(p: Params, name: str) -> str | None:
    """A WA SID, or an empty value, which on update clears the activity."""
    value = p.str(name)
    if value:
        check_sid(value, Prefix.ACTIVITY, name)
    return value


def _target_workers(p: Params) -> str:
    """Absent: the default (1==1). Given but blank: no worker is eligible, as Twilio documents."""
    value = p.str("TargetWorkers")
    return DEFAULT_TARGET_WORKERS if value is None else value


def _task_order(p: Params) -> TaskOrder | None:
    value = p.choice("TaskOrder", _ORDERS)
    return None if value is None else TaskOrder(value)


async def create_task_queue(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = await form_params(request)
    await c.before_write(ws)
    queue = c.engine.task_queues.create_task_queue(
        ws,
        friendly_name=p.required("FriendlyName", max_length=MAX_FRIENDLY_NAME),
        target_workers=_target_workers(p),
        max_reserved_workers=p.int("MaxReservedWorkers", minimum=1, maximum=MAX_RESERVED) or 1,
        task_order=_task_order(p) or TaskOrder.FIFO,
        reservation_activity_sid=_activity_sid(p, "ReservationActivitySid"),
        assignment_activity_sid=_activity_sid(p, "AssignmentActivitySid"),
    )
    return render.json_response(render.task_queue(queue, c.base), 201)


async def fetch_task_queue(request: Request) -> Response:
    c = call(request)
    ws, sid = c.workspace_sid(), c.path("sid")
    queue = c.store.get_task_queue(ws, sid)
    if queue is None:
        raise not_found(f"/Workspaces/{ws}/TaskQueues/{sid}")
    return render.json_response(render.task_queue(queue, c.base))


async def update_task_queue(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = await form_params(request)
    changes = QueueChanges(
        friendly_name=p.str("FriendlyName", max_length=MAX_FRIENDLY_NAME),
        target_workers=p.str("TargetWorkers"),
        max_reserved_workers=p.int("MaxReservedWorkers", minimum=1, maximum=MAX_RESERVED),
        task_order=_task_order(p),
        reservation_activity_sid=_activity_sid(p, "ReservationActivitySid"),
        assignment_activity_sid=_activity_sid(p, "AssignmentActivitySid"),
    )
    await c.before_write(ws)
    queue = c.engine.task_queues.update_task_queue(ws, c.path("sid"), changes)
    return render.json_response(render.task_queue(queue, c.base))


async def delete_task_queue(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    await c.before_write(ws)
    c.engine.task_queues.delete_task_queue(ws, c.path("sid"))
    return render.no_content()


def parse_ordering(value: str | None) -> Order:
    """`DateCreated`, `DateUpdated` or `FriendlyName`, each optionally followed by `:asc` or
    `:desc` (default asc), comma-chained; the SID breaks remaining ties."""
    order = params.parse_ordering(value, _ORDERING_COLUMNS, example="FriendlyName:asc")
    if not order:
        return _DEFAULT_ORDER
    return [*order, ("sid", False)]


async def list_task_queue(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = query_params(request)
    name = p.str("FriendlyName")
    order = parse_ordering(p.str("Ordering"))
    if "EvaluateWorkerAttributes" in p:
        c.services.rate_limits.check(c.account_sid, "EvaluateWorkerAttributes")
    sids = _index_filter(c.engine, ws, p)
    fields = [field for field, _ in order]
    # A page token is valid only for the ordering it was issued in.
    ordering = ",".join(f"{column}:{'desc' if desc else 'asc'}" for column, desc in order)
    items, meta = c.services.pager.paginate(
        request, p, key="task_queues", list_id=f"task_queues:{ws}:{ordering}",
        order=order,
        fetch=lambda order, after, limit: c.store.list_task_queues(
            ws, friendly_name=name, sids=sids, order=order, after=after, limit=limit
        ),
        key_of=lambda q: [getattr(q, field) for field in fields], base=c.base,
    )  # fmt: skip
    return render.json_response(
        {"task_queues": [render.task_queue(q, c.base) for q in items], "meta": meta}
    )


def _index_filter(engine: Engine, ws: str, p: Params) -> list[str] | None:
    """The SIDs the WorkerSid and EvaluateWorkerAttributes filters allow (None: no filter)."""
    allowed: set[str] | None = None
    worker_sid = p.sid("WorkerSid", Prefix.WORKER)
    if worker_sid is not None:
        allowed = set(engine.task_queues.queue_sids_for_worker(ws, worker_sid))
    attributes = p.json_object("EvaluateWorkerAttributes", max_chars=MAX_ATTRIBUTES_CHARS)
    if attributes is not None:
        matching = set(engine.task_queues.queue_sids_for_attributes(ws, attributes))
        allowed = matching if allowed is None else allowed & matching
    return None if allowed is None else sorted(allowed)
