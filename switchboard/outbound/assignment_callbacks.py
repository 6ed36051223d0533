"""Assignment callbacks: each new reservation is POSTed, signed like any Twilio webhook, to its
workflow's AssignmentCallbackUrl (else FallbackAssignmentCallbackUrl), and the instruction the
reply gives is carried out. A failing, slow or malformed callback is recorded, never raised."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from switchboard.asyncio_bridge import until_committed
from switchboard.background import BackgroundLoop
from switchboard.errors import TwilioError
from switchboard.models import Clock, Prefix, ReservationStatus, is_sid
from switchboard.outbound.poster import MAX_REPLY_BYTES, Poster, Reply
from switchboard.outbound.signatures import signature
from switchboard.storage import Store

log = logging.getLogger("switchboard.callbacks")

TIMEOUT_SECONDS = 5.0  # TaskRouter's budget for an answer (behaviour.md §6.2)
POLL_SECONDS = 1.0  # a fallback: commits that create callbacks wake the sender at once
# A claimed row is leased this long and renewed every third of it while in flight: a dead
# process's callbacks are sent again by another within a lease and a poll.
LEASE_MS = 5_000
# Rows claimed at once, sending or waiting for a turn at their destination. Each costs a task
# and a few hundred bytes; a crowded destination holds only Poster's share of them.
MAX_IN_FLIGHT = 200
_TRUE = {"true", "1", "yes"}
# Instruction keys that hold lists of events; the reply may give them comma-joined.
_EVENT_KEYS = (
    "status_callback_events",
    "status_callback_event",
    "conference_status_callback_event",
)


class ReservationActions(Protocol):
    """What the sender needs from the engine: acting on a reservation."""

    def update_reservation(
        self,
        workspace_sid: str,
        sid: str,
        *,
        status: ReservationStatus | None = None,
        worker_activity_sid: str | None = None,
        instruction: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> object: ...


class Committed(Protocol):
    """A committed engine write: the reservations it created that have a callback to send."""

    @property
    def callbacks(self) -> list[str]: ...


@dataclass(frozen=True)
class Outcome:
    """How one callback ended: `sent` (delivered; any instruction carried out), `failed`
    or `skipped` (the reservation was no longer pending when its turn came)."""

    state: str
    error: str | None = None


@dataclass(frozen=True)
class Instruction:
    name: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Prepared:
    urls: tuple[str, ...]
    form: dict[str, str]
    auth_token: str


def interpret(content_type: str, body: bytes) -> Instruction | Outcome:
    """What a 2xx reply asks for (behaviour.md §6.2): an instruction, or an outcome as it is."""
    text = body.strip()
    if not text:
        return Outcome("sent")  # "I will decide later"
    if len(body) > MAX_REPLY_BYTES:
        return Outcome("failed", f"40001: the reply is longer than {MAX_REPLY_BYTES} bytes")
    media = content_type.split(";")[0].strip().lower()
    is_json = media == "application/json" or media.endswith("+json")
    try:
        doc: Any = json.loads(text.decode("utf-8"))
        parsed = True
    except ValueError:  # UnicodeDecodeError and JSONDecodeError both are
        doc, parsed = None, False
    if not is_json:
        if isinstance(doc, dict) and "instruction" in doc:
            return Outcome(
                "failed",
                f"40000: the reply gives an instruction but its Content-Type is"
                f" {media or 'absent'}, not application/json; the instruction was ignored",
            )
        return Outcome("sent")  # an acknowledgement such as "OK" carries no instruction
    if not parsed or not isinstance(doc, dict):
        what = "not valid JSON" if not parsed else "JSON but not an object"
        return Outcome("failed", f"40001: the reply is {what}; no instruction was carried out")
    if not doc:
        return Outcome("sent")
    name = doc.get("instruction")
    if name is None:
        return Outcome("sent", "40005: the reply has no instruction; reply {} to decide later")
    if not isinstance(name, str):
        return Outcome("failed", f"55555: the instruction must be a string, not {name!r}")
    return Instruction(name, {k: v for k, v in doc.items() if k != "instruction"})


def engine_params(params: dict[str, Any]) -> dict[str, Any]:
    """A reply's instruction keys as the engine takes them (the REST API's types)."""
    result = dict(params)
    if "accept" in result:
        value = result["accept"]
        result["accept"] = value is True or (isinstance(value, str) and value.lower() in _TRUE)
    for key in _EVENT_KEYS:
        value = result.get(key)
        if isinstance(value, str):
            result[key] = [v.strip() for v in value.split(",") if v.strip()]
    if result.get("sip_auth_password") is not None:
        result["sip_auth_password"] = "[redacted]"  # the instruction text is stored
    return result


def _log_attempt(reservation_sid: str, url: str, reply: Reply | str, started: float) -> None:
    """One line per POST, whatever came of it."""
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    result = reply if isinstance(reply, str) else f"HTTP {reply.status}"
    log.info(
        "assignment callback for %s to %s: %s in %.1f ms",
        reservation_sid, url, result, elapsed_ms,
        extra={
            "reservation_sid": reservation_sid, "url": url, "duration_ms": elapsed_ms,
            "status": None if isinstance(reply, str) else reply.status,
        },
    )  # fmt: skip


class AssignmentCallbackSender:
    """Claims due assignment callbacks from the outbox and delivers them, each in a task of
    its own, so one slow receiver delays no other. Runs on the app's event loop.

    A claimed row is leased for `lease_ms` and the lease is renewed while the process works
    on it, so a process that dies leaves its callbacks to another within a lease and a poll
    (about 6 s) rather than after the longest exchange could last. A row whose destination
    is crowded (see Poster.crowded) is given back for later, uncounted, so the rows of one
    dead receiver never fill the room other workspaces' callbacks need."""

    def __init__(
        self,
        store: Store,
        engine: ReservationActions,
        clock: Clock,
        *,
        timeout_s: float = TIMEOUT_SECONDS,
        poll_s: float = POLL_SECONDS,
        lease_ms: int = LEASE_MS,
        max_in_flight: int = MAX_IN_FLIGHT,
        poster: Poster | None = None,
    ) -> None:
        self.store, self.engine, self.clock = store, engine, clock
        self.timeout_s, self.poll_s = timeout_s, poll_s
        self.lease_ms, self.max_in_flight = lease_ms, max_in_flight
        self.poster = poster or Poster()
        self._owns_poster = poster is None
        self._in_flight: dict[str, asyncio.Task[None]] = {}  # reservation SID → its delivery
        self.renewed_at = 0  # when the leases were last renewed (engine ms)
        self.loop = BackgroundLoop("assignment callbacks", self._pass, log=log)

    # -- life ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Run the claim loop on the current event loop until `stop`."""
        self.loop.start()

    async def stop(self) -> None:
        """Stop claiming; abandon deliveries under way and give their rows back, due now, so
        the next process to look sends them again."""
        await self.loop.close()
        abandoned = list(self._in_flight)
        for task in list(self._in_flight.values()):
            task.cancel()
        await asyncio.gather(*self._in_flight.values(), return_exceptions=True)
        now = self.clock.now_ms()
        for sid in abandoned:
            try:
                self.store.assignment_callbacks.give_back(sid, now, counted=True)
            except Exception:
                log.warning("giving back the assignment callback of %s failed", sid)
        if self._owns_poster:
            await self.poster.aclose()

    def wake(self) -> None:
        """Look at the outbox now (safe to call from any thread)."""
        self.loop.wake()

    def on_commit(self, tx: Committed) -> None:
        """An engine commit listener: wake when the write created callbacks."""
        if tx.callbacks:
            self.wake()

    async def run_once(self) -> int:
        """Claim every callback due now and deliver them; returns how many were claimed."""
        claimed = self._claim()
        await asyncio.gather(*self._in_flight.values(), return_exceptions=True)
        return claimed

    async def _pass(self) -> float:
        self._renew()
        await self._claim_due()
        return min(self.poll_s, self.lease_ms / 3000)

    async def _claim_due(self) -> None:
        """Claim only when something is due: the look is a read off the event loop (on
        PostgreSQL), where the claim is a transaction on the writing connection, which
        would end the loop's open group of writes early to run."""
        if len(self._in_flight) >= self.max_in_flight:
            return
        if await self.store.read(self.store.assignment_callbacks.any_due, self.clock.now_ms()):
            self._claim()

    def _renew(self) -> None:
        """Push the lease of every row in flight forward, a third of a lease before it ends."""
        now = self.clock.now_ms()
        if not self._in_flight or now - self.renewed_at < self.lease_ms // 3:
            return
        self.store.assignment_callbacks.renew(list(self._in_flight), now + self.lease_ms)
        self.renewed_at = now

    def _claim(self) -> int:
        room = self.max_in_flight - len(self._in_flight)
        if room <= 0:
            return 0
        now = self.clock.now_ms()
        rows = self.store.assignment_callbacks.claim(now, room, self.lease_ms)
        if not self._in_flight:
            self.renewed_at = now
        for workspace_sid, sid in rows:
            task = asyncio.create_task(self._deliver(workspace_sid, sid))
            self._in_flight[sid] = task
            task.add_done_callback(lambda _, sid=sid: self._done(sid))  # type: ignore[misc]
        return len(rows)

    def _done(self, sid: str) -> None:
        self._in_flight.pop(sid, None)
        self.loop.wake()  # room for another claim

    # -- one delivery -------------------------------------------------------------------------

    async def _deliver(self, workspace_sid: str, sid: str) -> None:
        if await until_committed(self.store) is not None:
            return  # the reservation and its claim were taken back with a failed group
        try:
            outcome = await self._exchange(workspace_sid, sid)
        except Exception as error:  # recorded on the row, never raised
            log.exception("assignment callback for %s failed", sid)
            outcome = Outcome("failed", f"20500: internal error: {error!r}")
        if outcome is None:
            return
        if outcome.error:
            log.warning("assignment callback for %s: %s (%s)", sid, outcome.error, outcome.state)
        try:
            self.store.assignment_callbacks.finish(
                sid, outcome.state, outcome.error, self.clock.now_ms()
            )
        except Exception:
            log.exception("recording the assignment callback of %s failed", sid)

    async def _exchange(self, workspace_sid: str, sid: str) -> Outcome | None:
        """POST to the URL, then the fallback; carry out the first 2xx reply's instruction.
        The engine acts only after the HTTP exchange, in a transaction of its own. None when
        the callback was put off because its destination is crowded."""
        prepared = await self.store.read(self._prepare, workspace_sid, sid)
        if isinstance(prepared, Outcome):
            return prepared
        if self.poster.crowded(prepared.urls[0]):
            later = self.clock.now_ms() + int(self.timeout_s * 1000)
            self.store.assignment_callbacks.give_back(sid, later, counted=False)
            return None
        failures = []
        for url in prepared.urls:
            reply = await self._post(url, prepared)
            if isinstance(reply, str):
                failures.append(reply)
                continue
            if reply.cut is not None:
                return Outcome("failed", f"40001: {reply.cut}; no instruction was carried out")
            decided = interpret(reply.content_type, reply.body)
            if isinstance(decided, Outcome):
                return decided
            return self._apply(workspace_sid, sid, decided)
        return Outcome("failed", "11200: " + "; ".join(failures))

    def _prepare(self, workspace_sid: str, sid: str) -> Prepared | Outcome:
        """The request's URLs and form (behaviour.md §6.1); every value a string. Only reads
        the Store (committed rows: `_deliver` waited for the claim's commit), so it runs
        through `Store.read`."""
        store = self.store
        r = store.reservations.get(workspace_sid, sid)
        if r is None:
            return Outcome("skipped", "the reservation no longer exists")
        if r.reservation_status != ReservationStatus.PENDING:
            return Outcome("skipped", f"the reservation was already {r.reservation_status.value}")
        task = store.tasks.get(workspace_sid, r.task_sid)
        worker = store.get_worker(workspace_sid, r.worker_sid)
        workflow = store.workflows.get(workspace_sid, task.workflow_sid or "") if task else None
        account = store.get_account(r.account_sid)
        if task is None or worker is None or account is None:
            return Outcome("skipped", "the reservation's task or worker no longer exists")
        if workflow is None or not workflow.assignment_callback_url:
            return Outcome("skipped", "the workflow no longer has an assignment callback URL")
        now = self.clock.now_ms()
        form = {
            "AccountSid": r.account_sid,
            "WorkspaceSid": workspace_sid,
            "WorkflowSid": workflow.sid,
            "TaskQueueSid": r.task_queue_sid or "",
            "WorkerSid": worker.sid,
            "WorkerAttributes": worker.attributes,
            "TaskSid": task.sid,
            "TaskAttributes": task.attributes,
            "TaskAge": str(max(now - task.date_created, 0) // 1000),
            "TaskPriority": str(task.priority),
            "ReservationSid": r.sid,
            "Timestamp": str(now // 1000),
        }
        urls = (workflow.assignment_callback_url, workflow.fallback_assignment_callback_url)
        return Prepared(tuple(u for u in urls if u), form, account.auth_token)

    async def _post(self, url: str, prepared: Prepared) -> Reply | str:
        """A complete 2xx reply, or why there is none."""
        headers = {"X-Twilio-Signature": signature(prepared.auth_token, url, prepared.form)}
        started = time.perf_counter()
        reply = await self.poster.post(url, prepared.form, headers, self.timeout_s)
        _log_attempt(prepared.form["ReservationSid"], url, reply, started)
        if isinstance(reply, str):
            return reply
        if not reply.ok:
            return f"{url} answered HTTP {reply.status}" + (
                " (redirects are not followed)" if 300 <= reply.status < 400 else ""
            )
        return reply

    def _apply(self, workspace_sid: str, sid: str, instruction: Instruction) -> Outcome:
        """Carry out the reply's instruction; any refusal (e.g. the reservation timed out
        meanwhile: 410) is the callback's outcome, not an error of the sender."""
        name, params = instruction.name, instruction.params
        try:
            if name == "accept":
                self.engine.update_reservation(
                    workspace_sid, sid, status=ReservationStatus.ACCEPTED
                )
            elif name == "reject":
                activity = params.get("activity_sid")
                if activity is not None and not self._is_activity(workspace_sid, activity):
                    return Outcome(
                        "failed", f"40100: activity_sid {activity!r} is not an activity here"
                    )
                self.engine.update_reservation(
                    workspace_sid, sid, status=ReservationStatus.REJECTED,
                    worker_activity_sid=activity,
                )  # fmt: skip
            else:
                self.engine.update_reservation(
                    workspace_sid, sid, instruction=name, params=engine_params(params)
                )
        except TwilioError as error:
            return Outcome("failed", f"{error.code}: {error.message}")
        return Outcome("sent")

    def _is_activity(self, workspace_sid: str, value: Any) -> bool:
        return (
            isinstance(value, str)
            and is_sid(value, Prefix.ACTIVITY)
            and self.store.get_activity(workspace_sid, value) is not None
        )
