"""Reservations: List, Fetch and Update, in the task view (/Tasks/{WT}/Reservations) and the
worker view (/Workers/{WK}/Reservations). One reservation is reachable from both; its `url`
follows the path it was reached by. Every documented update parameter is read and typed here."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from switchboard.api import render
from switchboard.api.context import Call, call
from switchboard.api.params import Params, check_sid, form_params, query_params
from switchboard.api.workers import if_match
from switchboard.errors import InvalidParameter, NotFound, not_found
from switchboard.models import Prefix, Reservation, ReservationStatus, is_sid

ORDER = (("date_created", False), ("sid", False))
STATUSES = tuple(s.value for s in ReservationStatus)
CALL_STATUSES = ("initiated", "ringing", "answered", "completed")
CONFERENCE_EVENTS = ("start", "end", "join", "leave", "mute", "hold", "speaker")
METHODS = ("GET", "POST")
_CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class Field:
    """One instruction parameter: its Twilio name, its key in the engine's `params`, how it
    is read, and TaskRouter's error code when it is malformed (20001 when none is documented)."""

    name: str
    key: str
    kind: str = "str"  # a key of _READERS
    choices: tuple[str, ...] = ()
    code: int | None = None
    low: int | None = None
    high: int | None = None


def _f(name: str, key: str, kind: str = "str", *choices: str, **extra: Any) -> Field:
    return Field(name, key, kind, choices, **extra)


# The parameters of each instruction (api.md §3.5, behaviour.md §4.2 and §11).
# fmt: off
INSTRUCTION_FIELDS: dict[str, tuple[Field, ...]] = {
    "dequeue": (
        _f("DequeueFrom", "from"),
        _f("DequeueTo", "to"),
        _f("DequeuePostWorkActivitySid", "post_work_activity_sid", "activity", code=40130),
        _f("DequeueRecord", "record"),
        _f("DequeueTimeout", "timeout", "int", low=1, high=999),
        _f("DequeueStatusCallbackUrl", "status_callback_url", "url", code=40157),
        _f("DequeueStatusCallbackEvent", "status_callback_events", "events", *CALL_STATUSES,
           code=40134),
    ),
    "call": (
        _f("CallFrom", "from"),
        _f("CallUrl", "url", "url", code=40112),
        _f("CallTo", "to"),
        _f("CallAccept", "accept", "bool"),
        _f("CallRecord", "record"),
        _f("CallTimeout", "timeout", "int", low=1),
        _f("CallStatusCallbackUrl", "status_callback_url", "url"),
    ),
    "redirect": (
        _f("RedirectCallSid", "call_sid", "call_sid", code=40121),
        _f("RedirectUrl", "url", "url", code=40120),
        _f("RedirectAccept", "accept", "bool"),
    ),
    "conference": (
        _f("To", "to"),
        _f("From", "from"),
        _f("Timeout", "timeout", "int", low=1),
        _f("PostWorkActivitySid", "post_work_activity_sid", "activity"),
        _f("StatusCallback", "status_callback", "url"),
        _f("StatusCallbackMethod", "status_callback_method", "method"),
        _f("StatusCallbackEvent", "status_callback_event", "events", *CALL_STATUSES),
        _f("Record", "record", "bool"),
        _f("Muted", "muted", "bool"),
        _f("Beep", "beep", "choice", "true", "false", "onEnter", "onExit"),
        _f("StartConferenceOnEnter", "start_conference_on_enter", "bool"),
        _f("EndConferenceOnExit", "end_conference_on_exit", "bool"),
        _f("EndConferenceOnCustomerExit", "end_conference_on_customer_exit", "bool"),
        _f("BeepOnCustomerEntrance", "beep_on_customer_entrance", "bool"),
        _f("WaitUrl", "wait_url", "url"),
        _f("WaitMethod", "wait_method", "method"),
        _f("EarlyMedia", "early_media", "bool"),
        _f("MaxParticipants", "max_participants", "int", low=2, high=250),
        _f("ConferenceStatusCallback", "conference_status_callback", "url"),
        _f("ConferenceStatusCallbackMethod", "conference_status_callback_method", "method"),
        _f("ConferenceStatusCallbackEvent", "conference_status_callback_event", "events",
           *CONFERENCE_EVENTS),
        _f("ConferenceRecord", "conference_record", "choice",
           "true", "false", "record-from-start", "do-not-record"),
        _f("ConferenceTrim", "conference_trim", "choice", "trim-silence", "do-not-trim"),
        _f("RecordingChannels", "recording_channels", "choice", "mono", "dual"),
        _f("RecordingStatusCallback", "recording_status_callback", "url"),
        _f("RecordingStatusCallbackMethod", "recording_status_callback_method", "method"),
        _f("ConferenceRecordingStatusCallback", "conference_recording_status_callback", "url"),
        _f("ConferenceRecordingStatusCallbackMethod",
           "conference_recording_status_callback_method", "method"),
        _f("Region", "region", "choice", "us1", "us2", "ie1", "de1", "sg1", "br1", "au1", "jp1"),
        _f("SipAuthUsername", "sip_auth_username"),
        _f("SipAuthPassword", "sip_auth_password", "secret"),
        _f("JitterBufferSize", "jitter_buffer_size", "choice", "small", "medium", "large", "off"),
    ),
    # Twilio documents these two on the task view only; the worker view of the same
    # reservation takes them too (docs/decisions.md).
    "supervise": (
        _f("Supervisor", "supervisor"),
        _f("SupervisorMode", "supervisor_mode", "choice", "monitor", "whisper", "barge"),
    ),
}
# fmt: on


# -- reading parameters ------------------------------------------------------------------------


def _events(p: Params, field: Field) -> list[str] | None:
    """Repeated keys, as the clients send lists; a comma-joined value is split too."""
    raw = p.list(field.name)
    if not raw:
        return None
    values = [v.strip() for item in raw for v in item.split(",") if v.strip()]
    unknown = [v for v in values if v not in field.choices]
    if unknown:
        raise InvalidParameter(
            f"{field.name} values must be among {', '.join(field.choices)}, not {unknown[0]!r}"
        )
    return values


def _activity(c: Call, ws: str, p: Params, name: str) -> str | None:
    value = p.sid(name, Prefix.ACTIVITY)
    if value is not None and c.store.get_activity(ws, value) is None:
        raise InvalidParameter(f"{name} {value} is not an activity of this workspace")
    return value


def _method(p: Params, name: str) -> str | None:
    value = p.str(name)
    if value is not None and value.upper() not in METHODS:
        raise InvalidParameter(f"{name} must be GET or POST, not {value!r}")
    return None if value is None else value.upper()


def _call_sid(p: Params, name: str) -> str | None:
    value = p.str(name)
    if value is not None and not _CALL_SID.match(value):
        raise InvalidParameter(f"{name} must be a CA SID (CA and 32 hex digits), not {value!r}")
    return value


def _read(c: Call, ws: str, p: Params, field: Field) -> Any:
    try:
        return _READERS[field.kind](c, ws, p, field)
    except InvalidParameter as error:
        if field.code is None:
            raise
        raise InvalidParameter(error.message, code=field.code) from None


_Reader = Callable[[Call, str, Params, Field], Any]
_READERS: dict[str, _Reader] = {
    "str": lambda c, ws, p, f: p.str(f.name),
    # A password is checked for presence but never stored: the instruction text is kept.
    "secret": lambda c, ws, p, f: None if p.str(f.name) is None else "[redacted]",
    "int": lambda c, ws, p, f: p.int(f.name, minimum=f.low, maximum=f.high),
    "bool": lambda c, ws, p, f: p.bool(f.name),
    "url": lambda c, ws, p, f: p.url(f.name),
    "method": lambda c, ws, p, f: _method(p, f.name),
    "choice": lambda c, ws, p, f: p.choice(f.name, f.choices),
    "events": lambda c, ws, p, f: _events(p, f),
    "activity": lambda c, ws, p, f: _activity(c, ws, p, f.name),
    "call_sid": lambda c, ws, p, f: _call_sid(p, f.name),
}


def instruction_params(c: Call, ws: str, p: Params) -> dict[str, dict[str, Any]]:
    """Every instruction's parameters, typed; each group holds only the parameters given.
    All groups are read, so a malformed parameter is refused whichever instruction is sent."""
    groups: dict[str, dict[str, Any]] = {}
    for instruction, fields in INSTRUCTION_FIELDS.items():
        values = ((f.key, _read(c, ws, p, f)) for f in fields)
        groups[instruction] = {key: value for key, value in values if value is not None}
    return groups


def _status(p: Params) -> ReservationStatus | None:
    value = p.choice("ReservationStatus", STATUSES)
    return None if value is None else ReservationStatus(value)


# -- finding reservations ----------------------------------------------------------------------


def _parent(c: Call, ws: str, *, via_worker: bool) -> str:
    """The task or worker SID of the path, a 404 unless it is one."""
    sid = c.path("worker_sid" if via_worker else "task_sid")
    if not is_sid(sid, Prefix.WORKER if via_worker else Prefix.TASK):
        raise _no_parent(ws, sid, via_worker=via_worker)
    return sid


def _check_parent(c: Call, ws: str, sid: str, *, via_worker: bool) -> None:
    """A 404 unless the path's task or worker exists in the workspace."""
    found = c.store.get_worker(ws, sid) if via_worker else c.store.tasks.get(ws, sid)
    if found is None:
        raise _no_parent(ws, sid, via_worker=via_worker)


def _no_parent(ws: str, sid: str, *, via_worker: bool) -> NotFound:
    return not_found(f"/Workspaces/{ws}/{'Workers' if via_worker else 'Tasks'}/{sid}")


def _reservation(c: Call, ws: str, *, via_worker: bool) -> Reservation:
    parent, sid = c.path("worker_sid" if via_worker else "task_sid"), c.path("sid")
    found = c.store.reservations.get(ws, sid) if is_sid(sid, Prefix.RESERVATION) else None
    if found is None or parent != (found.worker_sid if via_worker else found.task_sid):
        kind = "Workers" if via_worker else "Tasks"
        raise not_found(f"/Workspaces/{ws}/{kind}/{parent}/Reservations/{sid}")
    return found


def _one(c: Call, r: Reservation, *, via_worker: bool) -> Response:
    body = render.reservation(r, c.base, via_worker=via_worker)
    return render.json_response(body, headers=render.etag(r.version))


# -- handlers ----------------------------------------------------------------------------------


async def _list(request: Request, *, via_worker: bool) -> Response:
    c = call(request)
    return await c.read_answer(_listing, c, via_worker)


def _listing(c: Call, via_worker: bool) -> Response:
    request = c.request
    ws = c.workspace_sid()
    p = query_params(request)
    parent = _parent(c, ws, via_worker=via_worker)
    if via_worker:  # a deleted worker's reservations stay
        _check_parent(c, ws, parent, via_worker=True)
    status = p.choice("ReservationStatus", STATUSES)
    statuses = () if status is None else (status,)
    worker_sid = parent if via_worker else p.sid("WorkerSid", Prefix.WORKER)
    task_sid = None if via_worker else parent

    def fetch(order: Any, after: list[Any] | None, limit: int) -> list[Reservation]:
        return c.store.reservations.find(
            ws, task_sid=task_sid, worker_sid=worker_sid, statuses=statuses, order=order,
            after=after, limit=limit,
        )  # fmt: skip

    view = "worker" if via_worker else "task"
    items, meta = c.services.pager.paginate(
        request, p, key="reservations", list_id=f"reservations:{ws}:{view}:{parent}",
        order=ORDER, fetch=fetch, key_of=lambda r: (r.date_created, r.sid), base=c.base,
    )  # fmt: skip
    if not items and not via_worker:
        # A deleted task's reservations go with it, so a page of them shows the task
        # exists: it is looked for only when none came (one round trip, not two).
        _check_parent(c, ws, parent, via_worker=False)
    rendered = [render.reservation(r, c.base, via_worker=via_worker) for r in items]
    return render.json_response({"reservations": rendered, "meta": meta})


async def _fetch(request: Request, *, via_worker: bool) -> Response:
    c = call(request)
    found = await c.read_answer(lambda: _reservation(c, c.workspace_sid(), via_worker=via_worker))
    return _one(c, found, via_worker=via_worker)


async def _update(request: Request, *, via_worker: bool) -> Response:
    c = call(request)
    ws = c.workspace_sid()
    p = await form_params(request)
    status = _status(p)
    instruction = p.str("Instruction")
    if status is not None and instruction is not None:
        raise InvalidParameter(
            "Give ReservationStatus or Instruction, not both: an instruction that accepts "
            "(dequeue, conference, call or redirect with accept) sets the status itself"
        )
    activity_sid = p.str("WorkerActivitySid")
    if activity_sid is not None:
        check_sid(activity_sid, Prefix.ACTIVITY, "WorkerActivitySid")
    groups = instruction_params(c, ws, p)
    parent = c.path("worker_sid" if via_worker else "task_sid")
    await c.before_write(ws)
    reservation = c.engine.reservations.update_reservation(
        ws, c.path("sid"),
        task_sid=None if via_worker else parent, worker_sid=parent if via_worker else None,
        if_match=if_match(request), status=status, worker_activity_sid=activity_sid,
        instruction=instruction, params=groups.get(instruction or "", {}),
    )  # fmt: skip
    return _one(c, reservation, via_worker=via_worker)


async def list_task_reservation(request: Request) -> Response:
    return await _list(request, via_worker=False)


async def fetch_task_reservation(request: Request) -> Response:
    return await _fetch(request, via_worker=False)


async def update_task_reservation(request: Request) -> Response:
    return await _update(request, via_worker=False)


async def list_worker_reservation(request: Request) -> Response:
    return await _list(request, via_worker=True)


async def fetch_worker_reservation(request: Request) -> Response:
    return await _fetch(request, via_worker=True)


async def update_worker_reservation(request: Request) -> Response:
    return await _update(request, via_worker=True)
