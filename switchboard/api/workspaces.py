"""Workspaces: CreateWorkspace, FetchWorkspace, UpdateWorkspace, DeleteWorkspace, ListWorkspace."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from switchboard.api import render
from switchboard.api.context import call
from switchboard.api.params import form_params, query_params
from switchboard.models import MAX_FRIENDLY_NAME, Prefix, TaskOrder, new_sid

_ORDERS = [o.value for o in TaskOrder]


async def create_workspace(request: Request) -> Response:
    c = call(request)
    p = await form_params(request)
    order = p.choice("PrioritizeQueueOrder", _ORDERS)
    # Named before the write, so that it is prepared, under the new workspace's lock.
    sid = new_sid(Prefix.WORKSPACE)
    await c.before_write(sid)
    ws = c.engine.workspaces.create_workspace(
        c.account_sid,
        sid=sid,
        friendly_name=p.required("FriendlyName", max_length=MAX_FRIENDLY_NAME),
        event_callback_url=p.url("EventCallbackUrl"),
        events_filter=p.str("EventsFilter"),
        multi_task_enabled=p.bool("MultiTaskEnabled") is not False,
        template=p.choice("Template", ["NONE", "FIFO"]) or "NONE",
        prioritize_queue_order=TaskOrder(order or "FIFO"),
    )
    return render.json_response(render.workspace(ws, c.base), 201)


async def fetch_workspace(request: Request) -> Response:
    c = call(request)
    ws = c.engine.workspaces.fetch_workspace(c.workspace_sid())
    return render.json_response(render.workspace(ws, c.base))


async def update_workspace(request: Request) -> Response:
    c = call(request)
    sid = c.workspace_sid()
    p = await form_params(request)
    order = p.choice("PrioritizeQueueOrder", _ORDERS)
    await c.before_write(sid)
    ws = c.engine.workspaces.update_workspace(
        sid,
        friendly_name=p.str("FriendlyName", max_length=MAX_FRIENDLY_NAME),
        event_callback_url=p.url("EventCallbackUrl"),
        events_filter=p.str("EventsFilter"),
        multi_task_enabled=p.bool("MultiTaskEnabled"),
        default_activity_sid=p.str("DefaultActivitySid"),
        timeout_activity_sid=p.str("TimeoutActivitySid"),
        prioritize_queue_order=TaskOrder(order) if order else None,
    )
    return render.json_response(render.workspace(ws, c.base))


async def delete_workspace(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    await c.before_write(ws)
    c.services.known_workspaces.forget(ws)
    c.engine.workspaces.delete_workspace(ws)
    return render.no_content()


async def list_workspace(request: Request) -> Response:
    c = call(request)
    p = query_params(request)
    name = p.str("FriendlyName")
    items, meta = c.services.pager.paginate(
        request, p, key="workspaces", list_id=f"workspaces:{c.account_sid}",
        order=(("date_created", False), ("sid", False)),
        fetch=lambda order, after, limit: c.store.list_workspaces(
            c.account_sid, friendly_name=name, order=order, after=after, limit=limit
        ),
        key_of=lambda ws: (ws.date_created, ws.sid), base=c.base,
    )  # fmt: skip
    return render.json_response(
        {"workspaces": [render.workspace(ws, c.base) for ws in items], "meta": meta}
    )
