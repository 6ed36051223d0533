"""Switchboard's own endpoints, under /switchboard: health and expression explanations."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from switchboard import __version__
from switchboard.api import render
from switchboard.api.context import call, services_of
from switchboard.api.params import query_params
from switchboard.errors import InvalidParameter, not_found
from switchboard.expressions import ExpressionError, compile_expression
from switchboard.models import Prefix


async def health(request: Request) -> Response:
    """Liveness and readiness: 200 once the app has started; no credentials needed."""
    services = services_of(request)
    return render.json_response(
        {"status": "ok", "version": __version__, "clock": services.settings.clock}
    )


async def explain_worker(request: Request) -> Response:
    """Whether a worker matches a queue's target_workers (`TaskQueueSid`) or an ad-hoc
    `Expression`, and when not, which comparisons failed with the values they saw."""
    c = call(request)
    ws = c.workspace_sid()
    worker_sid = c.path("worker_sid")
    p = query_params(request)
    index = c.engine.index(ws)
    entry = index.workers.get(worker_sid)
    if entry is None:
        raise not_found(f"/Workspaces/{ws}/Workers/{worker_sid}")
    queue_sid = p.sid("TaskQueueSid", Prefix.TASK_QUEUE)
    text = p.str("Expression")
    if (queue_sid is None) == (text is None):
        raise InvalidParameter("Give exactly one of TaskQueueSid or Expression")
    if queue_sid is not None:
        queue = index.queues.get(queue_sid)
        if queue is None:
            raise not_found(f"/Workspaces/{ws}/TaskQueues/{queue_sid}")
        expression = queue.expression
    else:
        assert text is not None
        try:
            expression = compile_expression(text)
        except ExpressionError as error:
            raise InvalidParameter(f"Expression is not valid: {error}") from None
    explanation = expression.explain(entry.doc)
    return render.json_response(
        {
            "worker_sid": worker_sid,
            "task_queue_sid": queue_sid,
            "expression": expression.text,
            **explanation.to_dict(),
            "explanation": explanation.format(),
        }
    )
