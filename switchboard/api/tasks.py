"""Tasks: CreateTask, FetchTask, UpdateTask, DeleteTask and ListTask with every filter.

A task is routed by its workflow as it is created, or, with a worker `RoutingTarget` and the
`TaskQueueSid` it is taken in, offered straight to that worker (direct routing, as the worker
SDK's `createTask` asks). A queue or workflow `RoutingTarget` is refused with a 400 rather than
silently routed some other way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from switchboard.api import params, render
from switchboard.api.context import Call, call
from switchboard.api.pagination import Order
from switchboard.api.params import Params, check_sid, form_params, query_params
from switchboard.api.workers import if_match
from switchboard.engine.work import task_document
from switchboard.errors import InvalidParameter, not_found
from switchboard.expressions import Expression, ExpressionError, compile_expression
from switchboard.models import (
    MAX_ATTRIBUTES_CHARS,
    MAX_PRIORITY,
    MAX_TASK_TIMEOUT,
    Prefix,
    Task,
    TaskStatus,
    is_sid,
)

_STATUSES = [s.value for s in TaskStatus]
# Reason is free text; TaskRouter documents no limit, so it gets the attributes' limit.
MAX_REASON_CHARS = 4096
# Ordering: `Field[:asc|:desc]`, comma-chained (`Priority:desc,DateCreated:asc`); names and
# directions are case-sensitive, a field may not repeat, a field without a direction is
# ascending, and DateCreated and VirtualStartTime may not be combined (as TaskRouter says). The
# SID breaks the remaining ties, running the way the last field runs.
_ORDERING = {
    "DateCreated": "date_created",
    "Priority": "priority",
    "VirtualStartTime": "virtual_start_time",
}
_DEFAULT_ORDER: Order = (("date_created", False), ("sid", False))
# Rows read per query while a filter applied in Python (EvaluateTaskAttributes, Priority)
# looks for a page's worth of matches.
_SCAN_BATCH = 200


def _headers(task: Task) -> dict[str, str]:
    return render.etag(task.version)


def _render(c: Call, task: Task, *, attributes: bool = True) -> dict[str, Any]:
    return render.task(task, c.base, now=c.services.clock.now_ms(), attributes=attributes)


def _routing_target(p: Params) -> str | None:
    """A worker SID. Routing straight to a queue or a workflow (WQ…, WW…), which TaskRouter
    also documents, is refused: routing the task some other way than asked would be worse."""
    value = p.str("RoutingTarget") or None
    if value is None or is_sid(value, Prefix.WORKER):
        return value
    if is_sid(value, Prefix.TASK_QUEUE) or is_sid(value, Prefix.WORKFLOW):
        raise InvalidParameter(
            f"RoutingTarget {value} is not a Worker SID: Switchboard routes tasks directly to"
            " a worker only; give a queue as TaskQueueSid with a worker RoutingTarget, or a"
            " workflow as WorkflowSid"
        )
    check_sid(value, Prefix.WORKER, "RoutingTarget")
    return value


async def create_task(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = await form_params(request)
    routing_target = _routing_target(p)
    # IgnoreCapacity only means something with a worker RoutingTarget; alone it is accepted
    # and has no effect. Any value but true/1/yes is false, as Twilio documents.
    ignore_capacity = p.bool("IgnoreCapacity", lenient=True)
    await c.before_write(ws)
    task = c.engine.tasks.create_task(
        ws,
        attributes=p.json_object("Attributes", max_chars=MAX_ATTRIBUTES_CHARS) or "{}",
        workflow_sid=p.sid("WorkflowSid", Prefix.WORKFLOW),
        priority=p.int("Priority", minimum=0, maximum=MAX_PRIORITY),
        timeout=p.int("Timeout", minimum=1, maximum=MAX_TASK_TIMEOUT),
        task_channel=p.str("TaskChannel") or None,
        virtual_start_time=p.datetime_ms("VirtualStartTime"),
        routing_target=routing_target,
        task_queue_sid=p.sid("TaskQueueSid", Prefix.TASK_QUEUE) or None,
        ignore_capacity=ignore_capacity if routing_target else None,
    )
    return render.json_response(_render(c, task), 201, _headers(task))


async def fetch_task(request: Request) -> Response:
    c = call(request)
    sid = c.path("sid")

    def find() -> tuple[str, Task | None]:
        ws = c.workspace_sid()
        return ws, c.store.tasks.get(ws, sid) if is_sid(sid, Prefix.TASK) else None

    ws, task = await c.read_answer(find)
    if task is None:
        raise not_found(f"/Workspaces/{ws}/Tasks/{sid}")
    return render.json_response(_render(c, task), headers=_headers(task))


async def update_task(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = await form_params(request)
    status = p.choice("AssignmentStatus", _STATUSES)
    await c.before_write(ws)
    task = c.engine.tasks.update_task(
        ws,
        c.path("sid"),
        if_match=if_match(request),
        assignment_status=None if status is None else TaskStatus(status),
        reason=p.str("Reason", max_length=MAX_REASON_CHARS),
        attributes=p.json_object("Attributes", max_chars=MAX_ATTRIBUTES_CHARS),
        priority=p.int("Priority", minimum=0, maximum=MAX_PRIORITY),
        task_channel=p.str("TaskChannel") or None,
        virtual_start_time=p.datetime_ms("VirtualStartTime"),
    )
    return render.json_response(_render(c, task), headers=_headers(task))


async def delete_task(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    await c.before_write(ws)
    c.engine.tasks.delete_task(ws, c.path("sid"), if_match=if_match(request))
    return render.no_content()


# -- ListTask -----------------------------------------------------------------------------------


def parse_ordering(text: str | None) -> Order:
    """The list order an Ordering value asks for (DateCreated:asc when absent)."""
    order = params.parse_ordering(text, _ORDERING, example="Priority:desc,DateCreated:asc")
    if not order:
        return _DEFAULT_ORDER
    columns = {c for c, _ in order}
    if {"date_created", "virtual_start_time"} <= columns:
        raise InvalidParameter("Ordering cannot combine DateCreated and VirtualStartTime")
    return (*order, ("sid", order[-1][1]))


def _statuses(p: Params) -> list[str]:
    """AssignmentStatus as repeated keys, comma-joined values, or both."""
    found: list[str] = []
    for value in p.list("AssignmentStatus"):
        for item in value.split(","):
            status = item.strip()
            if status not in _STATUSES:
                raise InvalidParameter(
                    f"AssignmentStatus must be one of {', '.join(_STATUSES)}, not {status!r}"
                )
            if status not in found:
                found.append(status)
    return found


def _attribute_filter(c: Call, p: Params) -> Expression | None:
    text = p.str("EvaluateTaskAttributes")
    if text is None:
        return None
    c.services.rate_limits.check(c.account_sid, "EvaluateTaskAttributes")
    try:
        return compile_expression(text)
    except ExpressionError as error:
        raise InvalidParameter(
            f"EvaluateTaskAttributes is not a valid expression: {error}"
        ) from None


def _keep(c: Call, p: Params) -> Callable[[Task], bool] | None:
    """The filters the store does not apply, as one test (None when there are none)."""
    expression = _attribute_filter(c, p)
    priority = p.int("Priority", minimum=0, maximum=MAX_PRIORITY)
    if expression is None and priority is None:
        return None

    def keep(task: Task) -> bool:
        if priority is not None and task.priority != priority:
            return False
        return expression is None or expression.matches(task_document(task.attributes))

    return keep


def _key_of(order: Order) -> Callable[[Task], Sequence[Any]]:
    fields = [field for field, _ in order]
    return lambda task: tuple(getattr(task, field) for field in fields)


def _fetcher(
    c: Call, ws: str, p: Params, order: Order
) -> Callable[[Order, list[Any] | None, int], list[Task]]:
    statuses = _statuses(p)
    has_addons = p.bool("HasAddons")
    filters = {
        "workflow_sid": p.sid("WorkflowSid", Prefix.WORKFLOW),
        "workflow_name": p.str("WorkflowName"),
        "task_queue_sid": p.sid("TaskQueueSid", Prefix.TASK_QUEUE),
        "task_queue_name": p.str("TaskQueueName"),
        "routing_target": p.str("RoutingTarget"),
    }
    keep = _keep(c, p)
    key_of = _key_of(order)

    def rows(order: Order, after: Sequence[Any] | None, limit: int) -> list[Task]:
        return c.store.tasks.find(
            ws, statuses=statuses, has_addons=has_addons, order=order, after=after,
            limit=limit, **filters,
        )  # fmt: skip

    def fetch(order: Order, after: list[Any] | None, limit: int) -> list[Task]:
        if keep is None:
            return rows(order, after, limit)
        found: list[Task] = []
        cursor: Sequence[Any] | None = after
        while len(found) < limit:
            batch = rows(order, cursor, _SCAN_BATCH)
            found.extend(t for t in batch if keep(t))
            if len(batch) < _SCAN_BATCH:
                break
            cursor = key_of(batch[-1])
        return found[:limit]

    return fetch


async def list_task(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = query_params(request)
    order = parse_ordering(p.str("Ordering"))
    fetch = _fetcher(c, ws, p, order)
    # The order is part of the list's identity, so a token never resumes another ordering.
    ordering = ",".join(f"{col}:{'desc' if d else 'asc'}" for col, d in order)
    items, meta = c.services.pager.paginate(
        request, p, key="tasks", list_id=f"tasks:{ws}:{ordering}", order=order,
        fetch=fetch, key_of=_key_of(order), base=c.base,
    )  # fmt: skip
    attributes = c.services.settings.list_attributes
    return render.json_response(
        {"tasks": [_render(c, t, attributes=attributes) for t in items], "meta": meta}
    )
