"""Presence: which workers have an SDK session open, in this process and the others.

- Several sessions per worker (tabs, devices) all receive its events (fanout.py).
- `closeExistingSessions=true` on a new session closes the worker's other sessions: this
  process's at once, another process's at its next renewal (it reads the sessions marked
  for it to end).
- `setWorkerOfflineIfDisconnected` (true unless the URL says false, Twilio's documented
  default) moves the worker to the workspace's Offline activity when its LAST session is
  gone and the grace period has passed without a reconnect: an ordinary activity change
  through the engine, with its events and callbacks, rejecting its pending reservations
  (the agent is not there to accept them). The last session to go decides.

Sessions are rows in the database (storage/presence_rows.py), so every process knows them;
a killed process's sessions lapse with its own row, and whichever process sweeps first acts
on them. The loop runs a pass every third of the lapse period, and at the end of each grace
period this process started.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import secrets
import time
from collections.abc import Callable

from switchboard.background import BackgroundLoop
from switchboard.engine.workers import Workers
from switchboard.errors import TwilioError
from switchboard.models import Activity
from switchboard.realtime.sessions import REPLACED, Session
from switchboard.storage import Store
from switchboard.storage.presence_rows import SessionRow

log = logging.getLogger("switchboard.realtime")

OFFLINE = "Offline"


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Presence:
    def __init__(
        self,
        store: Store,
        workers: Workers,
        *,
        grace_s: float,
        lapse_s: float,
        wall_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        self.store, self.rows, self.workers = store, store.presence, workers
        self.grace_ms, self.lapse_ms = int(grace_s * 1000), max(int(lapse_s * 1000), 300)
        self.wall_ms = wall_ms
        self.process_id = secrets.token_hex(8)
        self._open: dict[str, Session] = {}
        self._graces: list[int] = []  # ends of the grace periods this process started (a heap)
        # What the database refused (an outage) and the next pass writes: sessions opened,
        # and sessions closed with the end of their grace.
        self._unrecorded: set[str] = set()
        self._unclosed: dict[str, int] = {}
        self._recording = False
        self.loop = BackgroundLoop("realtime-presence", self._pass, log=log)

    # -- sessions -----------------------------------------------------------------------------

    def opened(self, session: Session) -> None:
        """Record a new session, closing the worker's others if it asks: with the others
        opened and closed in this turn of the event loop, in one write (a thousand agents
        reconnecting at once are two thousand sessions closed and opened, and every write of
        presence takes the same lock in every process)."""
        self._open[session.id] = session
        self._unrecorded.add(session.id)
        self._record_soon()

    def _end_others(self, session: Session) -> None:
        ended = self.rows.end_others(session.workspace_sid, session.worker_sid, session.id)
        for other in ended:
            mine = self._open.get(other)
            if mine is not None:
                mine.end(REPLACED, "closed by a new session of this worker")

    def closed(self, session: Session) -> None:
        """The session's socket is gone: present until the grace period ends."""
        if self._open.pop(session.id, None) is None:
            return
        ends = self.wall_ms() + self.grace_ms
        heapq.heappush(self._graces, ends)
        self._unrecorded.discard(session.id)
        self._unclosed[session.id] = ends
        self._record_soon()
        self.loop.wake()

    def _record_soon(self) -> None:
        if not self._recording:
            self._recording = True
            asyncio.get_running_loop().call_soon(self._record)

    def _record(self) -> None:
        self._recording = False
        try:
            self._catch_up()
        except Exception:
            # The sockets serve all the same; the loop's next pass writes what is left.
            log.warning("presence: sessions not recorded yet; the database does not answer")

    def connected(self) -> int:
        return len(self._open)

    def start(self) -> None:
        # The process's row before any session's, so no sweep takes them for a dead one's.
        # A database that does not answer yet is left to the loop, which retries.
        try:
            self.rows.renew_process(self.process_id, self.wall_ms() + self.lapse_ms)
        except Exception:
            log.warning("presence: the database does not answer; the loop will retry")
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.close()
        # Agents reconnecting to another process keep their presence through the grace.
        try:
            self.rows.leave(self.process_id, self.wall_ms() + self.grace_ms)
        except Exception:
            # The database is down: the sessions lapse with this process's row instead.
            log.warning("presence: could not leave the database on stop", exc_info=True)

    # -- the loop -----------------------------------------------------------------------------

    async def _pass(self) -> float:
        now = self.wall_ms()
        if not self.rows.renew_process(self.process_id, now + self.lapse_ms) and self._open:
            # Another process took this one for dead (it was stalled past the lapse) and
            # swept its sessions: they are open, so they are put back.
            log.warning("presence lapsed while %d sessions were open; restored", len(self._open))
            self.rows.open([self._row(s) for s in self._open.values()])
        self._catch_up()
        # The reads go through `Store.read` (off the event loop on PostgreSQL); the writes
        # around them stay on the loop, each a transaction of its own, so committed when read.
        for session_id in await self.store.read(self.rows.ending, self.process_id):
            session = self._open.get(session_id)
            if session is not None:
                session.end(REPLACED, "closed by a new session of this worker")
        for gone in self.rows.sweep(now):
            if gone.offline_if_disconnected and not await self.store.read(
                self.rows.present, gone.workspace_sid, gone.worker_sid
            ):
                await self._set_offline(gone.workspace_sid, gone.worker_sid)
        while self._graces and self._graces[0] <= now:
            heapq.heappop(self._graces)
        wait_ms = self.lapse_ms // 3
        if self._graces:
            wait_ms = min(wait_ms, self._graces[0] - now)
        return max(wait_ms, 1) / 1000

    def _catch_up(self) -> None:
        """Write the sessions opened and closed since the last write, or that the database
        refused earlier (raising again if it still does)."""
        opening = [self._open[i] for i in self._unrecorded if i in self._open]
        if opening:
            self.rows.open([self._row(session) for session in opening])
        self._unrecorded.clear()
        for session in opening:
            if session.close_existing:
                self._end_others(session)
        closing = list(self._unclosed.items())
        if closing:
            self.rows.close_all(closing)
            for session_id, _ in closing:
                del self._unclosed[session_id]

    async def _set_offline(self, workspace_sid: str, worker_sid: str) -> None:
        store = self.store
        worker = await store.read(store.get_worker, workspace_sid, worker_sid)
        activity = await store.read(self._offline_activity, workspace_sid)
        if worker is None or activity is None or worker.activity_sid == activity.sid:
            return
        await store.prepare_write(workspace_sid)
        try:
            self.workers.update_worker(
                workspace_sid,
                worker_sid,
                activity_sid=activity.sid,
                reject_pending_reservations=True,
            )
        except TwilioError as refused:
            # The workspace or worker went, or the activity changed under us: nothing to do.
            log.info("worker %s not set Offline on disconnect: %s", worker_sid, refused)

    def _offline_activity(self, workspace_sid: str) -> Activity | None:
        """The workspace's unavailable activity named Offline; failing that its default
        activity when unavailable (Offline in a new workspace); else none, and the worker
        stays as it is. Reads only."""
        found = self.store.list_activities(workspace_sid, friendly_name=OFFLINE, available=False)
        if found:
            return found[0]
        workspace = self.store.get_workspace(workspace_sid)
        if workspace is None or workspace.default_activity_sid is None:
            return None
        default = self.store.get_activity(workspace_sid, workspace.default_activity_sid)
        return default if default is not None and not default.available else None

    def _row(self, session: Session) -> SessionRow:
        return SessionRow(
            session.id,
            self.process_id,
            session.workspace_sid,
            session.worker_sid,
            session.offline_if_disconnected,
        )
