"""Worker channels: ListWorkerChannel, FetchWorkerChannel, UpdateWorkerChannel.

`{sid}` is a WC SID or the unique name of the channel's task channel (`voice`, `chat`, …).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from switchboard.api import render
from switchboard.api.context import call
from switchboard.api.params import form_params, query_params
from switchboard.errors import not_found
from switchboard.models import MAX_CHANNEL_CAPACITY, Prefix, is_sid


async def list_worker_channel(request: Request) -> Response:
    c = call(request)
    ws, worker_sid = c.workspace_sid(), c.path("worker_sid")
    if not is_sid(worker_sid, Prefix.WORKER) or c.store.get_worker(ws, worker_sid) is None:
        raise not_found(f"/Workspaces/{ws}/Workers/{worker_sid}")
    p = query_params(request)
    items, meta = c.services.pager.paginate(
        request, p, key="channels", list_id=f"worker_channels:{ws}:{worker_sid}",
        order=(("date_created", False), ("sid", False)),
        fetch=lambda order, after, limit: c.store.list_worker_channels(
            ws, worker_sid, order=order, after=after, limit=limit
        ),
        key_of=lambda ch: (ch.date_created, ch.sid), base=c.base,
    )  # fmt: skip
    return render.json_response(
        {
            "channels": [
                render.worker_channel(c.engine.worker_channels.with_load(ch), c.base)
                for ch in items
            ],
            "meta": meta,
        }
    )


async def fetch_worker_channel(request: Request) -> Response:
    c = call(request)
    ws, worker_sid, sid = c.workspace_sid(), c.path("worker_sid"), c.path("sid")
    channel = c.store.get_worker_channel(ws, worker_sid, sid)
    if channel is None:
        raise not_found(f"/Workspaces/{ws}/Workers/{worker_sid}/Channels/{sid}")
    return render.json_response(
        render.worker_channel(c.engine.worker_channels.with_load(channel), c.base)
    )


async def update_worker_channel(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = await form_params(request)
    await c.before_write(ws)
    channel = c.engine.worker_channels.update_worker_channel(
        ws,
        c.path("worker_sid"),
        c.path("sid"),
        capacity=p.int("Capacity", minimum=0, maximum=MAX_CHANNEL_CAPACITY),
        available=p.bool("Available"),
    )
    return render.json_response(render.worker_channel(channel, c.base))
