"""Push: committed events to the sockets of the workers they concern, in commit order.

The events table is the source (DESIGN.md: everything pushed comes from it). Per workspace
with a connected worker the fan-out keeps the last change number it has pushed; a pass reads
the events committed since, renders each one's resource as it now stands, and queues the frame
on the sessions of the workers it concerns. A pass runs on the event loop, woken by this
process's commits (`on_commit`) and, on PostgreSQL, by other processes' commits, which the
database announces (`on_notified`, from storage/event_listener.py); there it also looks again
after `poll_s`, a safety net.

Nothing is pushed that a failed commit takes back: a pass reads once no group commit is open,
and through `Store.read`, which on PostgreSQL reads committed rows on a thread of the read
pool (the event loop serves requests meanwhile) and on SQLite reads inline, with no await
between the read and the queueing. A page of events is read and rendered in one such call
for the workers connected when it started; a worker connecting meanwhile has it read again.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

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


@dataclass(frozen=True)
class _Page:
    """A page of a workspace's events as pushed: each frame with the worker it is for, in
    commit order; the change number pushed up to, and whether more may follow."""

    frames: list[tuple[str, str]]
    seq: int
    more: bool


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
            await self._tail(workspace)
        if self.poll_s is not None and self._cursors:
            return self.poll_s
        return _IDLE_S

    async def _tail(self, workspace: str) -> None:
        while workspace in self._cursors:
            after = self._cursors[workspace]
            workers = frozenset(self._sessions.get(workspace, {}))
            page = await self.store.read(self._page, workspace, after, workers)
            if self._cursors.get(workspace) != after:
                continue  # its sessions all went meanwhile (and perhaps others came)
            if not workers.issuperset(self._sessions.get(workspace, {})):
                continue  # a worker connected meanwhile: the page is read again for it too
            connected = self._sessions.get(workspace, {})
            for worker_sid, text in page.frames:
                for session in list(connected.get(worker_sid, ())):
                    session.offer(text)
            self._cursors[workspace] = page.seq
            if not page.more:
                return

    def _page(self, workspace: str, after: int, workers: frozenset[str]) -> _Page:
        """The events committed after change number `after`, rendered for `workers`. Reads
        only (through `Store.read`)."""
        limit = _PAGE
        while True:
            events = self.store.events.in_order(workspace, after_seq=after, limit=limit)
            full = len(events) == limit
            if full:
                # A change's events stand together: leave a cut-off change for the next
                # read, or read more when one change alone fills the page (a tick's burst).
                last = events[-1].seq
                events = [e for e in events if e.seq != last]
                if not events:
                    limit *= 4
                    continue
            frames = [
                found for event in events for found in self._frames(workspace, event, workers)
            ]
            return _Page(frames, events[-1].seq if events else after, full)

    def _frames(
        self, workspace: str, event: Event, workers: frozenset[str]
    ) -> Iterator[tuple[str, str]]:
        kind = event.event_type
        for worker_sid in self._concerned(workspace, event, workers):
            payload = self._payload(workspace, worker_sid, event)
            if payload is not None:
                yield worker_sid, frame(kind, payload)

    def _concerned(self, workspace: str, event: Event, workers: frozenset[str]) -> Iterable[str]:
        if not workers:
            return ()
        kind = event.event_type
        if kind in TASK_EVENTS and event.task_sid:
            held = self.store.reservations.find(
                workspace, task_sid=event.task_sid, statuses=_HOLDING
            )
            holders = {r.worker_sid for r in held}
            if event.worker_sid:
                holders.add(event.worker_sid)
            return sorted(w for w in holders if w in workers)
        pushed = (
            kind in RESERVATION_EVENTS
            or kind in WORKER_EVENTS
            or kind in CHANNEL_EVENTS
            or kind in TRANSFER_EVENTS
            or kind == FAILED
        )
        if pushed and event.worker_sid in workers:
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
