"""The SDK's gateway (its `ebServer`): one POST per call, `{url, method, params, token}`.

Each call is checked against its token (the workspace it names, and for the `worker` role,
that it touches only its own worker, reservations and tasks), executed by the REST API's own
handler in process, and answered `{"payload": …}` in the SDK's shapes; a failure is any
non-2xx with `{"message": …}`, which the SDK shows its user.

While a worker's change is answered, that worker's own sockets hold what is pushed to them:
the SDK expects the answer of a call before the events it caused (`Task.transfer()` replaces
the OutgoingTransfer its events were delivered on; docs/worker-sdk.md, "Answers before
pushes").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from switchboard.asyncio_bridge import until_committed
from switchboard.engine.transfers import Transfers
from switchboard.errors import TwilioError
from switchboard.models import Clock, Prefix, Transfer, is_sid
from switchboard.realtime import payloads
from switchboard.realtime.inprocess import Answer, InProcess
from switchboard.realtime.sessions import Held
from switchboard.realtime.tokens import Grant, TokenRefused, Verifier
from switchboard.storage import Store

ACTIVE_RESERVATIONS = ("pending", "accepted", "wrapping")
_TELEPHONY = {"CustomerParticipant", "WorkerParticipant", "HoldWorkerParticipant"}
_TELEPHONY |= {"KickWorkerParticipant"}
# The SDK's list parameters that the REST lists name otherwise or do not have: everything
# comes in one page (payloads.page), so paging parameters are dropped.
_PAGING = ("PageSize", "AfterSid", "NextToken", "Ordering", "Active")


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Call:
    """One parsed gateway request: the path below the workspace, split into segments."""

    grant: Grant
    method: str
    parts: list[str]
    params: dict[str, Any]
    # The SDK's `enableVersionCheck` sends the version it holds; the REST API checks it.
    if_match: str | None = None

    def rest_path(self, *parts: str) -> str:
        return "/".join(("Workspaces", self.grant.workspace_sid, *parts))


class Gateway:
    """An ASGI app answering POST only (CORS answers the preflight)."""

    def __init__(
        self, store: Store, clock: Clock, inprocess: InProcess, verify: Verifier,
        transfers: Transfers, hold: Callable[[str, str], Held],
    ) -> None:  # fmt: skip
        self.store, self.clock, self.inprocess = store, clock, inprocess
        self.verify = verify
        # Transfers have no REST counterpart: the gateway calls the engine for them.
        self.transfers = transfers
        # A worker's sockets, held until released (Fanout.hold).
        self.hold = hold

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method != "POST":
            await error(405, f"the gateway answers POST, not {request.method}")(
                scope, receive, send
            )
            return
        try:
            call = self._parse(await request.body(), request.headers.get("if-match"))
        except Refused as refused:
            await error(refused.status, refused.message)(scope, receive, send)
            return
        # A read causes no pushes; a change's to the caller are held until its answer is
        # sent (or could not be), so they follow it.
        worker_sid = call.grant.worker_sid if call.method == "POST" else None
        held = Held(()) if worker_sid is None else self.hold(call.grant.workspace_sid, worker_sid)
        try:
            await (await self._answer(call))(scope, receive, send)
        finally:
            held.release()

    async def _answer(self, call: Call) -> Response:
        try:
            payload = await self._execute(call)
        except Refused as refused:
            return error(refused.status, refused.message)
        return JSONResponse({"payload": payload})

    # -- reading and checking the request -------------------------------------------------------

    def _parse(self, body: bytes, if_match: str | None) -> Call:
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise Refused(400, "the body is not JSON {url, method, params, token}") from None
        if not isinstance(document, dict):
            raise Refused(400, "the body is not a JSON object {url, method, params, token}")
        token, url = document.get("token"), document.get("url")
        method, params = document.get("method", "GET"), document.get("params") or {}
        if not isinstance(token, str) or not token:
            raise Refused(401, "the request carries no token")
        try:
            grant = self.verify(token)
        except TokenRefused as refused:
            raise Refused(401, f"Access Token refused: {refused}") from None
        if (
            not isinstance(url, str)
            or method not in ("GET", "POST")
            or not isinstance(params, dict)
        ):
            raise Refused(400, "url must be a path, method GET or POST, params an object")
        parts = [p for p in url.strip("/").split("/") if p]
        if len(parts) < 2 or parts[0] != "Workspaces":
            raise Refused(404, f"no resource at {url}")
        if parts[1] != grant.workspace_sid:
            raise Refused(403, f"the token grants workspace {grant.workspace_sid}, not {parts[1]}")
        return Call(grant, method, parts[2:], params, if_match if method == "POST" else None)

    # -- executing it -------------------------------------------------------------------------

    async def _execute(self, call: Call) -> Any:
        route = _ROUTES.get((call.method, _shape(call.parts)))
        if route is None:
            if call.parts[:1] == ["Workers"] and call.parts[2:3] and call.parts[2] in _TELEPHONY:
                raise Refused(
                    400, "participant hold, mute and kick need a telephone conference, which"
                    " Switchboard does not run"
                )  # fmt: skip
            raise Refused(404, f"no {call.method} operation at {'/'.join(call.parts)}")
        _authorize(call, self.store)
        return await route(self, call)

    async def _rest(self, call: Call, *parts: str, params: dict[str, Any] | None = None) -> Any:
        answer: Answer = await self.inprocess.call(
            call.grant.account_sid,
            call.method,
            call.rest_path(*parts),
            call.params if params is None else params,
            if_match=call.if_match,
        )
        if not answer.ok:
            raise Refused(answer.status, answer.message())
        # The answer comes after its commit; reads below must not see a later group's writes.
        while self.store.commit_pending:
            await until_committed(self.store)
        return answer.body

    async def _settled(self) -> None:
        """Before reading the Store straight: no write of an open group commit is read (the
        REST API's own answers wait the same way)."""
        while self.store.commit_pending:
            await until_committed(self.store)

    def _list_params(self, call: Call) -> dict[str, Any]:
        kept = {k: v for k, v in call.params.items() if k not in _PAGING}
        return {**kept, "PageSize": 1000}

    async def worker(self, call: Call) -> Any:
        if call.method == "GET":
            # Every (re)connect reads it, a thousand agents at once after an outage: read
            # straight from the Store rather than through the REST API in process.
            await self._settled()
            return self._worker(call, call.parts[1])
        body = await self._rest(call, *call.parts)
        return self._worker(call, body["sid"])

    def _worker(self, call: Call, sid: str) -> dict[str, Any]:
        record = self.store.get_worker(call.grant.workspace_sid, sid)
        if record is None:
            raise Refused(404, f"worker {sid} does not exist")
        return payloads.worker(record)

    async def workers(self, call: Call) -> Any:
        body = await self._rest(call, "Workers", params=self._list_params(call))
        sids = [w["sid"] for w in body["workers"]]
        records = {w.sid: w for w in self.store.get_workers(call.grant.workspace_sid, sids)}
        return payloads.page(payloads.worker(records[s]) for s in sids if s in records)

    async def activities(self, call: Call) -> Any:
        if set(call.params) <= set(_PAGING):
            # What every (re)connect asks, read straight from the Store (a workspace holds
            # at most 100 activities, one page); filters go through the REST API.
            await self._settled()
            found = self.store.list_activities(call.grant.workspace_sid)
            return payloads.page(payloads.activity_record(a) for a in found)
        body = await self._rest(call, "Activities", params=self._list_params(call))
        return payloads.page(payloads.activity(a) for a in body["activities"])

    async def worker_channels(self, call: Call) -> Any:
        # The REST answer counts each channel's assigned tasks (the row alone does not).
        body = await self._rest(
            call, "Workers", call.parts[1], "Channels", params={"PageSize": 1000}
        )
        return payloads.page(payloads.channel_from_rest(c) for c in body["channels"])

    async def worker_reservations(self, call: Call) -> Any:
        worker_sid = call.parts[1]
        # The REST list has no "active" filter and no task inside: the rows come from the
        # Store, once the worker is known to exist.
        await self._settled()
        self._worker(call, worker_sid)
        found = self.store.reservations.find(
            call.grant.workspace_sid, worker_sid=worker_sid, statuses=ACTIVE_RESERVATIONS
        )
        workspace, now = call.grant.workspace_sid, self.clock.now_ms()
        return payloads.page(
            payloads.reservation_as_it_stands(self.store, workspace, r, now) for r in found
        )

    async def reservation(self, call: Call) -> Any:
        body = await self._rest(call, *call.parts)
        # The SDK reads an update's answer without its task, and then cannot take a
        # `task_transfer` (it sets it on the task it did not read): only a fetch has them.
        return self._reservation(call, body["sid"], transfers=call.method == "GET")

    def _reservation(self, call: Call, sid: str, *, transfers: bool = True) -> dict[str, Any]:
        workspace = call.grant.workspace_sid
        record = self.store.reservations.get(workspace, sid)
        if record is None:
            raise Refused(404, f"reservation {sid} does not exist")
        now = self.clock.now_ms()
        if not transfers:
            return payloads.reservation(
                record, self.store.tasks.get(workspace, record.task_sid), now
            )
        return payloads.reservation_as_it_stands(self.store, workspace, record, now)

    async def task(self, call: Call) -> Any:
        body = await self._rest(call, *call.parts)
        record = self.store.tasks.get(call.grant.workspace_sid, body["sid"])
        if record is None:
            raise Refused(404, f"task {body['sid']} does not exist")
        return payloads.task(record, self.clock.now_ms())

    async def transfer(self, call: Call) -> Any:
        """Task.transfer (POST Workers/{WK}/Transfers) and OutgoingTransfer.cancel (POST
        Workers/{WK}/Transfers/{TT}), run by the engine in process: TaskRouter's REST API
        has no transfers."""
        workspace, worker_sid, params = call.grant.workspace_sid, call.parts[1], call.params
        try:
            # The parameters are read before the write is prepared (partial binds them).
            write: partial[Transfer]
            if len(call.parts) == 3:
                write = partial(
                    self.transfers.create_transfer,
                    workspace,
                    worker_sid,
                    task_sid=_sid(params, "TaskSid", Prefix.TASK),
                    reservation_sid=_sid(params, "ReservationSid", Prefix.RESERVATION),
                    to=_sid(params, "To", Prefix.WORKER, Prefix.TASK_QUEUE),
                    mode=_optional(params, "Mode"),
                    attributes=_attributes(params.get("Attributes")),
                    priority=_priority(params.get("Priority")),
                )
            else:
                if not is_sid(call.parts[3], Prefix.TRANSFER):
                    raise Refused(404, f"no transfer {call.parts[3]}")
                write = partial(
                    self.transfers.cancel_transfer,
                    workspace,
                    worker_sid,
                    call.parts[3],
                    task_sid=_sid(params, "TaskSid", Prefix.TASK),
                    status=_required(params, "TransferStatus"),
                )
            await self.store.prepare_write(workspace)
            found = write()
        except TwilioError as refused:
            raise Refused(refused.status, refused.message) from None
        failure = await until_committed(self.store)
        if failure is not None:
            raise Refused(503, "the transfer could not be stored; nothing was changed")
        return payloads.transfer(found)

    async def task_queues(self, call: Call) -> Any:
        body = await self._rest(call, "TaskQueues", params=self._list_params(call))
        return payloads.page(payloads.task_queue(q) for q in body["task_queues"])

    async def task_queue(self, call: Call) -> Any:
        return payloads.task_queue(await self._rest(call, *call.parts))


def error(status: int, message: str) -> Response:
    return JSONResponse({"message": message, "status": status}, status)


def _required(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise Refused(400, f"Missing required parameter {name}")
    return value


def _sid(params: dict[str, Any], name: str, *prefixes: Prefix) -> str:
    value = _required(params, name)
    if not any(is_sid(value, prefix) for prefix in prefixes):
        kinds = " or ".join(f"{p.value}…" for p in prefixes)
        raise Refused(400, f"{name} must be a SID ({kinds}), not {value!r}")
    return value


def _optional(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is not None and not isinstance(value, str):
        raise Refused(400, f"{name} must be a string")
    return value


def _attributes(value: Any) -> str | None:
    """The SDK sends Attributes as a JSON object; its text is what the task keeps."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return json.dumps(value)
    raise Refused(400, "Attributes must be a JSON object")


def _priority(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise Refused(400, f"Priority must be a whole number, not {value!r}")


def _shape(parts: list[str]) -> tuple[str, ...]:
    """The path with its SIDs replaced by `*`: `Workers/*/Reservations/*`."""
    return tuple(p if i % 2 == 0 else "*" for i, p in enumerate(parts))


Route = Callable[[Gateway, Call], Any]
_ROUTES: dict[tuple[str, tuple[str, ...]], Route] = {
    ("GET", ("Workers", "*")): Gateway.worker,
    ("POST", ("Workers", "*")): Gateway.worker,
    ("GET", ("Workers",)): Gateway.workers,
    ("GET", ("Activities",)): Gateway.activities,
    ("GET", ("Workers", "*", "WorkerChannels")): Gateway.worker_channels,
    ("GET", ("Workers", "*", "Reservations")): Gateway.worker_reservations,
    ("GET", ("Workers", "*", "Reservations", "*")): Gateway.reservation,
    ("POST", ("Workers", "*", "Reservations", "*")): Gateway.reservation,
    ("POST", ("Tasks",)): Gateway.task,
    ("GET", ("Tasks", "*")): Gateway.task,
    ("POST", ("Tasks", "*")): Gateway.task,
    ("POST", ("Tasks", "*", "Reservations", "*")): Gateway.reservation,
    ("POST", ("Workers", "*", "Transfers")): Gateway.transfer,
    ("POST", ("Workers", "*", "Transfers", "*")): Gateway.transfer,
    ("GET", ("TaskQueues",)): Gateway.task_queues,
    ("GET", ("TaskQueues", "*")): Gateway.task_queue,
}


def _authorize(call: Call, store: Store) -> None:
    """A `worker` token acts on its own worker, its reservations and its tasks, and reads the
    workspace's activities; `supervisor` and `admin` act across the workspace."""
    grant = call.grant
    if grant.role != "worker":
        return
    parts = call.parts
    own = f"a worker token acts only on its own worker ({grant.worker_sid})"
    if parts[:1] == ["Workers"] and len(parts) >= 2:
        if parts[1] != grant.worker_sid:
            raise Refused(403, own)
        return
    if parts == ["Activities"] or parts == ["Tasks"]:
        return
    if parts[:1] == ["Tasks"] and len(parts) == 2:
        mine = store.reservations.find(
            grant.workspace_sid, task_sid=parts[1], worker_sid=grant.worker_sid, limit=1
        )
        if not mine:
            raise Refused(403, f"{own}: task {parts[1]} was never reserved for it")
        return
    raise Refused(403, own)
