"""Switchboard's own endpoints, under /switchboard: health and expression explanations."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response

from switchboard import __version__
from switchboard.api import render
from switchboard.api.context import Services, call, services_of
from switchboard.api.params import MAX_DATE_MS, form_params, query_params
from switchboard.errors import InvalidParameter, TwilioError, not_found
from switchboard.expressions import ExpressionError, compile_expression
from switchboard.models import MovableClock, Prefix
from switchboard.storage import Store

# How long health waits for the database to answer. A load balancer's check must get an answer
# even when the network to the database has gone silent (the probe itself would wait for its
# connection attempt's timeout): past this, the database counts as unreachable.
DATABASE_PROBE_SECONDS = 2.0


class _LoopHealth(Protocol):
    running: bool
    failures: int
    last_error: str | None
    last_pass: int | None


class _TickHealth(Protocol):
    """What the health endpoint reads of the tick loop (timers.TickStatus)."""

    @property
    def loop(self) -> _LoopHealth: ...
    @property
    def is_leader(self) -> bool: ...
    @property
    def lag_ms(self) -> int: ...
    @property
    def healthy(self) -> bool: ...


class _Ticking(Protocol):
    def status(self) -> _TickHealth: ...


async def health(request: Request) -> Response:
    """Liveness and readiness; no credentials needed. 503 (code 20503, the health body under
    `details`) while the database does not answer, or while this process should run the tick
    loop (system clock) but the loop has stopped, is failing or has not finished a pass for a
    while: a load balancer then sends requests elsewhere rather than to a process that can
    only refuse them, or leave deadlines unprocessed. `tick` gives the loop's last good pass
    and how late its leader came to a deadline (`lag_ms`); it is null with the manual clock,
    where requests move time."""
    services = services_of(request)
    outage = await database_outage(services.store)
    body: dict[str, object] = {
        "status": "ok",
        "version": __version__,
        "clock": services.settings.clock,
        "tick_leader": services.is_tick_leader(),
        "database": {
            "reachable": outage is None,
            "error": outage[0] if outage else None,
            "unreachable_since": render.date(outage[1]) if outage else None,
        },
        "tick": None,
    }
    problems = [] if outage is None else [f"the database cannot be used: {outage[0]}"]
    ticker: _Ticking | None = getattr(request.app.state, "tick_loop", None)
    if ticker is not None:
        status = ticker.status()
        loop = status.loop
        body["tick"] = {
            "running": loop.running,
            "leader": status.is_leader,
            "last_pass": render.date(loop.last_pass),
            "last_pass_ms": loop.last_pass,
            "lag_ms": status.lag_ms,
            "failures": loop.failures,
            "last_error": loop.last_error,
        }
        if not status.healthy:
            why = loop.last_error or ("it has stopped" if not loop.running else "it is not passing")
            problems.append(f"the tick loop is not healthy: {why}")
    if not problems:
        return render.json_response(body)
    body["status"] = "unavailable"
    message = "; ".join(problems)
    error = TwilioError(message[0].upper() + message[1:], code=20503, status=503, details=body)
    return render.json_response(error.to_dict(), error.status)


async def database_outage(store: Store) -> tuple[str, int] | None:
    """The store's probe, run beside the event loop and given DATABASE_PROBE_SECONDS."""
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(store.database_outage), DATABASE_PROBE_SECONDS
        )
    except TimeoutError:
        reason = f"the database did not answer within {DATABASE_PROBE_SECONDS:g} s"
        return (reason, time.time_ns() // 1_000_000)


def _clock_body(services: Services, processed: int | None = None) -> dict[str, object]:
    now = services.clock.now_ms()
    body: dict[str, object] = {
        "kind": services.settings.clock,
        "now": render.date(now),
        "now_ms": now,
        "next_deadline_ms": services.engine.deadlines.next_deadline(),
    }
    if processed is not None:
        body["processed"] = processed
    return body


async def fetch_clock(request: Request) -> Response:
    """The server's current time and its next deadline."""
    c = call(request)
    return render.json_response(_clock_body(c.services))


async def update_clock(request: Request) -> Response:
    """Move the manual clock (`AdvanceMs`, `AdvanceSeconds`, or `SetMs`/`Set` to a moment
    never earlier than now), then process every deadline it passed, in deadline order."""
    c = call(request)
    clock = c.services.clock
    if not isinstance(clock, MovableClock):
        raise InvalidParameter(
            "The clock is the system clock; start the server with --clock manual to move it"
        )
    p = await form_params(request)
    advance_ms = p.int("AdvanceMs", minimum=0)
    advance_s = p.int("AdvanceSeconds", minimum=0)
    target = p.int("SetMs", minimum=0) or p.datetime_ms("Set")
    given = [v for v in (advance_ms, advance_s, target) if v is not None]
    if len(given) != 1:
        raise InvalidParameter("Give exactly one of AdvanceMs, AdvanceSeconds, SetMs or Set")
    if target is None:
        step = advance_ms if advance_ms is not None else (advance_s or 0) * 1000
        target = clock.now_ms() + step
    if target < clock.now_ms():
        raise InvalidParameter("The manual clock never moves backwards")
    # Every date the API writes must still be a date.
    if target > MAX_DATE_MS:
        raise InvalidParameter("The manual clock cannot move past 9999-12-31T23:59:59Z")
    clock.set_ms(target)
    # Not prepared: the tick writes whichever workspaces have deadlines due, in batches that
    # each commit on their own (`batch`), so no group of one workspace could take them.
    processed = c.engine.deadlines.tick()
    return render.json_response(_clock_body(c.services, processed))


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


async def fetch_assignment_callback(request: Request) -> Response:
    """How a reservation's assignment callback went: `state` (pending, sent, failed or
    skipped), `attempts`, and `last_error` (the error or warning, led by its Twilio code)."""
    c = call(request)
    ws, sid = c.workspace_sid(), c.path("sid")
    found = c.store.reservations.get(ws, sid) and c.store.assignment_callbacks.state(sid)
    if not found:
        raise not_found(f"/Workspaces/{ws}/Reservations/{sid}/AssignmentCallback")
    state, attempts, last_error = found
    return render.json_response(
        {"reservation_sid": sid, "state": state, "attempts": attempts, "last_error": last_error}
    )


async def fetch_event_delivery(request: Request) -> Response:
    """The workspace's event callback stream: its `url`, the `backlog` its EventsFilter would
    still send, the `cursor` (seq, ordinal: the last event delivered or skipped, in commit
    order), `delivered` so far, and the head event's failed `attempts`, `last_error` and
    `next_attempt` (wall-clock time of the next retry; null when none is waiting); `skipped`
    counts events given up after too many failures, `last_skipped` names the last one."""
    c = call(request)
    ws = c.workspace_sid()
    stream = c.store.event_streams.get(ws)
    if stream is None or stream.url is None:
        body: dict[str, object] = {
            "workspace_sid": ws, "url": None, "events_filter": None, "backlog": 0,
            "cursor": None, "delivered": stream.delivered if stream else 0,
            "last_delivered": render.date(stream.last_delivered) if stream else None,
            "attempts": 0, "last_error": None, "next_attempt": None, "next_attempt_ms": None,
            "skipped": stream.skipped if stream else 0,
            "last_skipped": stream.last_skipped if stream else None,
        }  # fmt: skip
        return render.json_response(body)
    retry = stream.next_attempt or None
    return render.json_response(
        {
            "workspace_sid": ws,
            "url": stream.url,
            "events_filter": stream.events_filter,
            "backlog": c.store.event_streams.backlog(stream),
            "cursor": {"seq": stream.cursor[0], "ordinal": stream.cursor[1]},
            "delivered": stream.delivered,
            "last_delivered": render.date(stream.last_delivered),
            "attempts": stream.attempts,
            "last_error": stream.last_error,
            "next_attempt": render.date(retry),
            "next_attempt_ms": retry,
            "skipped": stream.skipped,
            "last_skipped": stream.last_skipped,
        }
    )
