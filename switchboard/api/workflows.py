"""Workflows: CreateWorkflow, FetchWorkflow, UpdateWorkflow, DeleteWorkflow, ListWorkflow.

The engine validates and compiles `Configuration`; every error names where in the document it is.
"""

from __future__ import annotations

from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response

from switchboard.api import render
from switchboard.api.context import call
from switchboard.api.params import Params, check_json_depth, form_params, query_params
from switchboard.errors import not_found
from switchboard.models import MAX_FRIENDLY_NAME, MAX_RESERVATION_TIMEOUT, Prefix, is_sid
from switchboard.routing import MAX_CONFIGURATION_BYTES

_Text = TypeVar("_Text", bound=str | None)


def _configuration(value: _Text) -> _Text:
    """The Configuration text, refused here only when it nests too deeply for the engine's
    parser; the engine validates everything else and says where in the document it is. One
    over Twilio's size is left to the engine to refuse, unscanned."""
    if value is not None and len(value) <= MAX_CONFIGURATION_BYTES:
        check_json_depth(value, "Configuration")
    return value


def _reservation_timeout(p: Params) -> int | None:
    return p.int("TaskReservationTimeout", minimum=1, maximum=MAX_RESERVATION_TIMEOUT)


async def create_workflow(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = await form_params(request)
    await c.before_write(ws)
    workflow = c.engine.workflows.create_workflow(
        ws,
        friendly_name=p.required("FriendlyName", max_length=MAX_FRIENDLY_NAME),
        configuration=_configuration(p.required("Configuration")),
        assignment_callback_url=p.url("AssignmentCallbackUrl"),
        fallback_assignment_callback_url=p.url("FallbackAssignmentCallbackUrl"),
        task_reservation_timeout=_reservation_timeout(p),
    )
    return render.json_response(render.workflow(workflow, c.base), 201)


async def fetch_workflow(request: Request) -> Response:
    c = call(request)
    ws, sid = c.workspace_sid(), c.path("sid")
    workflow = c.store.workflows.get(ws, sid) if is_sid(sid, Prefix.WORKFLOW) else None
    if workflow is None:
        raise not_found(f"/Workspaces/{ws}/Workflows/{sid}")
    return render.json_response(render.workflow(workflow, c.base))


async def update_workflow(request: Request) -> Response:
    """ReEvaluateTasks is a string flag: true/1/yes re-route the pending tasks, anything else
    does not (Twilio documents it as the string 'true' or 'false')."""
    c = call(request)
    ws = c.workspace_sid()
    p = await form_params(request)
    await c.before_write(ws)
    workflow = c.engine.workflows.update_workflow(
        ws,
        c.path("sid"),
        friendly_name=p.str("FriendlyName", max_length=MAX_FRIENDLY_NAME),
        configuration=_configuration(p.str("Configuration")),
        assignment_callback_url=p.url("AssignmentCallbackUrl"),
        fallback_assignment_callback_url=p.url("FallbackAssignmentCallbackUrl"),
        task_reservation_timeout=_reservation_timeout(p),
        re_evaluate_tasks=p.bool("ReEvaluateTasks", lenient=True) or False,
    )
    return render.json_response(render.workflow(workflow, c.base))


async def delete_workflow(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    await c.before_write(ws)
    c.engine.workflows.delete_workflow(ws, c.path("sid"))
    return render.no_content()


async def list_workflow(request: Request) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = query_params(request)
    name = p.str("FriendlyName")
    items, meta = c.services.pager.paginate(
        request, p, key="workflows", list_id=f"workflows:{ws}",
        order=(("date_created", False), ("sid", False)),
        fetch=lambda order, after, limit: c.store.workflows.find(
            ws, friendly_name=name, order=order, after=after, limit=limit
        ),
        key_of=lambda w: (w.date_created, w.sid), base=c.base,
    )  # fmt: skip
    return render.json_response(
        {"workflows": [render.workflow(w, c.base) for w in items], "meta": meta}
    )
