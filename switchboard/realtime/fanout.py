"""Push: committed events to the sockets of the workers they concern, in commit order.

The events table is the source (DESIGN.md: everything pushed comes from it). Per workspace
with a connected worker the fan-out keeps the last change number it has pushed; a pass reads
the events committed since, renders each one's resource as it now stands, and queues the frame
on the sessions of the workers it concerns. A pass runs on the event loop, woken by this
process's commits (`on_commit`) and, on PostgreSQL, by other processes' commits, which the
database announces (`on_notified`, from storage/event_listener.py); there it also looks again
after `poll_s`, a safety net.

Reads happen only when no group commit is open, and with no await between read and queueing,
so nothing is pushed that a failed commit takes back.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable

from switchboard.asyncio_bridge import until_committed
from switchboard.background import BackgroundLoop
from switchboard.models import Clock, Event
from switchboard.realtime import payloads
from switchboard.realtime.sessions import Held, Session, frame
from switchboard.storage import Store

log = logging.getLogger("switchboard.realtime")

RESERVATION_EVENTS = frozenset(
    f"reservation.{name}"
    for name in (
        "created", "accepted", "rejected", "timeout", "canceled", "rescinded", "completed",
        "wrapup",
    )
)  # fmt: skip
WORKER_EVENTS = frozenset(("worker.activity.update", "worker.attributes.update"))
CHANNEL_EVENTS = frozenset(("worker.capacity.update", "worker.channel.availability.update"))
TASK_EVENTS = frozenset(("task.updated", "task.canceled", "task.completed", "task.wrapup"))
# A directly routed task that could not be offered to its worker: no reservation exists, so
# the SDK's `reservationFailed` receives the task (docs/decisions.md, direct routing).
FAILED = "reservation.failed"
# To the worker who started the transfer (the event's worker), for its OutgoingTransfer.
TRANSFER_EVENTS = frozenset(
    f"task.transfer-{name}"
    for name in ("initiated", "attempt-failed", "failed", "completed", "canceled")
)
# Whose reservations of a task make its task events theirs. The reservation is read as it
# stands when the event is pushed, by which time completing or canceling the task has closed
# it too: those outcomes still mark the worker who held the task.
_HOLDING = ("pending", "accepted", "wrapping", "completed", "canceled")
_PAGE = 1000
_IDLE_S = 60.0


class Fanout:
    def __init__(self, store: Store, clock: Clock, *, poll_s: float | None = None) -> None:
        self.store, self.clock, self.poll_s = store, clock, poll_s
        self._sessions: dict[str, dict[str, set[Session]]] = defaultdict(dict)
        self._cursors: dict[str, int] = {}
        self.loop = BackgroundLoop("realtime-push", self._pass, log=log)

    # -- sessions -----------------------------------------------------------------------------

    def register(self, session: Session) -> None:
        workspace = session.workspace_sid
        if workspace not in self._cursors:
            # Events before the first connection are not replayed (the SDK refetches state).
            self._cursors[workspace] = self.store.workspace_change_seq(workspace) or 0
        self._sessions[workspace].setdefault(session.worker_sid, set()).add(session)
        # A loop idling with no one to push to starts looking again (on PostgreSQL, every
        # `poll_s`, for other processes' commits).
        self.loop.wake()

    def unregister(self, session: Session) -> None:
        workers = self._sessions.get(session.workspace_sid, {})
        sessions = workers.get(session.worker_sid, set())
        sessions.discard(session)
        if not sessions:
            workers.pop(session.worker_sid, None)
        if not workers:
            self._sessions.pop(session.workspace_sid, None)
            self._cursors.pop(session.workspace_sid, None)

    def hold(self, workspace_sid: str, worker_sid: str) -> Held:
        """The worker's sessions, holding what is pushed to them until released."""
        return Held(tuple(self._sessions.get(workspace_sid, {}).get(worker_sid, ())))

    def connected(self, workspace_sid: str, worker_sid: str) -> int:
        return len(self._sessions.get(workspace_sid, {}).get(worker_sid, ()))

    # -- the loop -----------------------------------------------------------------------------

    def on_commit(self, _tx: object) -> None:
        if self._cursors:
            self.loop.wake()

    def on_notified(self, workspace_sid: str | None) -> None:
        """Another process committed events of `workspace_sid` (None: maybe of any
        workspace)."""
        if workspace_sid is None or workspace_sid in self._cursors:
            self.loop.wake()

    async def _pass(self) -> float:
        while self.store.commit_pending:
            await until_committed(self.store)
        for workspace in list(self._cursors):
            self._tail(workspace)
        if self.poll_s is not None and self._cursors:
            return self.poll_s
        return _IDLE_S

    def _tail(self, workspace: str) -> None:
        limit = _PAGE
        while workspace in self._cursors:
            events = self.store.events.in_order(
                workspace, after_seq=self._cursors[workspace], limit=limit
            )
            full = len(events) == limit
            if full:
                # A change's events stand together: leave a cut-off change for the next
                # read, or read more when one change alone fills the page (a tick's burst).
                last = events[-1].seq
                events = [e for e in events if e.seq != last]
                if not events:
                    limit *= 4
                    continue
            for event in events:
                self._push(workspace, event)
            if events:
                self._cursors[workspace] = events[-1].seq
            if not full:
                return

    def _push(self, workspace: str, event: Event) -> None:
        connected = self._sessions.get(workspace)
        if not connected:
            return
        kind = event.event_type
        for worker_sid in self._concerned(workspace, event, connected):
            payload = self._payload(workspace, worker_sid, event)
            if payload is None:
                continue
            text = frame(kind, payload)
            for session in list(connected.get(worker_sid, ())):
                session.offer(text)

    def _concerned(
        self, workspace: str, event: Event, connected: dict[str, set[Session]]
    ) -> Iterable[str]:
        kind = event.event_type
        if kind in TASK_EVENTS and event.task_sid:
            held = self.store.reservations.find(
                workspace, task_sid=event.task_sid, statuses=_HOLDING
            )
            holders = {r.worker_sid for r in held}
            if event.worker_sid:
                holders.add(event.worker_sid)
            return sorted(w for w in holders if w in connected)
        pushed = (
            kind in RESERVATION_EVENTS
            or kind in WORKER_EVENTS
            or kind in CHANNEL_EVENTS
            or kind in TRANSFER_EVENTS
            or kind == FAILED
        )
        if pushed and event.worker_sid in connected:
            return (event.worker_sid,)
        return ()

    def _payload(self, workspace: str, worker_sid: str, event: Event) -> object | None:
        kind, store, now = event.event_type, self.store, self.clock.now_ms()
        if kind in RESERVATION_EVENTS and event.reservation_sid:
            reservation = store.reservations.get(workspace, event.reservation_sid)
            if reservation is None:
                return None
            return payloads.reservation_as_it_stands(store, workspace, reservation, now)
        if kind in WORKER_EVENTS:
            worker = store.get_worker(workspace, worker_sid)
            if worker is None:
                return None
            # The version the event was made at: the SDK adds one itself for each later
            # reservation or channel change, so the version as it stands now would count
            # those twice.
            return payloads.worker(worker, version=_worker_version(event, worker.version))
        if kind in CHANNEL_EVENTS:
            for channel in store.list_worker_channels(workspace, worker_sid):
                if channel.task_channel_sid == event.task_channel_sid:
                    return payloads.worker_channel(channel)
            return None
        if (kind in TASK_EVENTS or kind == FAILED) and event.task_sid:
            task = store.tasks.get(workspace, event.task_sid)
            return None if task is None else payloads.task(task, now)
        if kind in TRANSFER_EVENTS:
            found = store.transfers.get(workspace, event.event_data()["transfer_sid"])
            return None if found is None else payloads.transfer(found)
        return None


def _worker_version(event: Event, otherwise: int) -> int:
    try:
        return int(json.loads(event.data)["worker_version"])
    except (ValueError, KeyError, TypeError):
        return otherwise
