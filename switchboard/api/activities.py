"""Activities: CreateActivity, FetchActivity, UpdateActivity, DeleteActivity, ListActivity."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from switchboard.api import render
from switchboard.api.context import call
from switchboard.api.params import form_params, query_params
from switchboard.errors import not_found
from switchboard.models import MAX_FRIENDLY_NAME


async def create_activity(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = await form_params(request)
    await c.before_write(ws)
    activity = c.engine.activities.create_activity(
        ws,
        friendly_name=p.required("FriendlyName", max_length=MAX_FRIENDLY_NAME),
        available=p.bool("Available", lenient=True) or False,
    )
    return render.json_response(render.activity(activity, c.base), 201)


async def fetch_activity(request: Request) -> Response:
    c = call(request)
    ws, sid = c.workspace_sid(), c.path("sid")
    activity = c.store.get_activity(ws, sid)
    if activity is None:
        raise not_found(f"/Workspaces/{ws}/Activities/{sid}")
    return render.json_response(render.activity(activity, c.base))


async def update_activity(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = await form_params(request)
    await c.before_write(ws)
    activity = c.engine.activities.update_activity(
        ws, c.path("sid"), friendly_name=p.str("FriendlyName", max_length=MAX_FRIENDLY_NAME)
    )
    return render.json_response(render.activity(activity, c.base))


async def delete_activity(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    await c.before_write(ws)
    c.engine.activities.delete_activity(ws, c.path("sid"))
    return render.no_content()


async def list_activity(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = query_params(request)
    name, available = p.str("FriendlyName"), p.bool("Available", lenient=True)
    items, meta = c.services.pager.paginate(
        request, p, key="activities", list_id=f"activities:{ws}",
        order=(("date_created", False), ("sid", False)),
        fetch=lambda order, after, limit: c.store.list_activities(
            ws, friendly_name=name, available=available, order=order, after=after, limit=limit
        ),
        key_of=lambda a: (a.date_created, a.sid), base=c.base,
    )  # fmt: skip
    return render.json_response(
        {"activities": [render.activity(a, c.base) for a in items], "meta": meta}
    )
