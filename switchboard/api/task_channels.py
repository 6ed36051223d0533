"""Task channels: CreateTaskChannel, FetchTaskChannel, UpdateTaskChannel, DeleteTaskChannel,
ListTaskChannel. The `{sid}` of a channel's URL is its TC SID or its unique name."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from switchboard.api import render
from switchboard.api.context import call
from switchboard.api.params import form_params, query_params
from switchboard.errors import not_found
from switchboard.models import MAX_FRIENDLY_NAME


async def create_task_channel(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = await form_params(request)
    await c.before_write(ws)
    channel = c.engine.task_channels.create_task_channel(
        ws,
        friendly_name=p.required("FriendlyName", max_length=MAX_FRIENDLY_NAME),
        unique_name=p.required("UniqueName", max_length=MAX_FRIENDLY_NAME),
        channel_optimized_routing=p.bool("ChannelOptimizedRouting") or False,
    )
    return render.json_response(render.task_channel(channel, c.base), 201)


async def fetch_task_channel(request: Request) -> Response:
    c = call(request)
    ws, sid = c.workspace_sid(), c.path("sid")
    channel = c.store.get_task_channel(ws, sid)
    if channel is None:
        raise not_found(f"/Workspaces/{ws}/TaskChannels/{sid}")
    return render.json_response(render.task_channel(channel, c.base))


async def update_task_channel(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = await form_params(request)
    await c.before_write(ws)
    channel = c.engine.task_channels.update_task_channel(
        ws,
        c.path("sid"),
        friendly_name=p.str("FriendlyName", max_length=MAX_FRIENDLY_NAME),
        channel_optimized_routing=p.bool("ChannelOptimizedRouting"),
    )
    return render.json_response(render.task_channel(channel, c.base))


async def delete_task_channel(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    await c.before_write(ws)
    c.engine.task_channels.delete_task_channel(ws, c.path("sid"))
    return render.no_content()


async def list_task_channel(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = query_params(request)
    items, meta = c.services.pager.paginate(
        request, p, key="channels", list_id=f"task_channels:{ws}",
        order=(("date_created", False), ("sid", False)),
        fetch=lambda order, after, limit: c.store.list_task_channels(
            ws, order=order, after=after, limit=limit
        ),
        key_of=lambda ch: (ch.date_created, ch.sid), base=c.base,
    )  # fmt: skip
    return render.json_response(
        {"channels": [render.task_channel(ch, c.base) for ch in items], "meta": meta}
    )
