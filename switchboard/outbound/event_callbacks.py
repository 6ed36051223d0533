"""Event callbacks: each workspace's events POSTed, in commit order, to its EventCallbackUrl.

Delivery is at least once and never reordered: a stream sends its head event until a 2xx
acknowledges it, retrying with capped, jittered exponential backoff, and its cursor lives in
the database, so delivery resumes where it stopped after a restart. Only an event that has
failed `max_attempts` times in a row is skipped, and recorded as such on the stream
(docs/decisions.md): one event a receiver will never take must not block the stream for good.
Events are read a small page at a time from the event log, so an endpoint that stays down
costs no memory. One process at a time delivers a stream (a lease, renewed while it works),
whatever the number of processes sharing a PostgreSQL database. The sender runs on the app's
event loop; engine writes never wait for it, they only wake it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from switchboard.asyncio_bridge import call_in_loop, until_committed
from switchboard.background import BackgroundLoop, backoff_seconds
from switchboard.models import Clock, Committed, Event
from switchboard.outbound.poster import Poster
from switchboard.outbound.signatures import signature
from switchboard.storage import Store
from switchboard.storage.event_stream_rows import EventStream

log = logging.getLogger("switchboard.events")

TIMEOUT_SECONDS = 10.0  # below TaskRouter's documented 15 s answer budget
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 60.0
POLL_SECONDS = 2.0  # finds other processes' events and streams whose holder died
# A stream's lease, renewed every third of it while this process works on the stream: a dead
# holder's streams go on elsewhere within a lease and a poll.
LEASE_MS = 5_000
# Failures in a row after which the head event is skipped (0: never): with the backoff that is
# several minutes of trying, longer than a receiver's restart or deploy.
MAX_ATTEMPTS = 12
PAGE_SIZE = 50
MAX_STREAMS = 64  # streams sending at once in this process
PRUNE_EVERY_SECONDS = 300.0
PRUNE_BATCH = 1000
DAY_MS = 86_400_000


def pascal(name: str) -> str:
    """task_queue_sid → TaskQueueSid."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def event_form(event: Event) -> dict[str, str]:
    """The callback's form fields (behaviour.md §7.1): every event-data field in PascalCase
    (null ones left out), then the base fields."""
    data = event.event_data()
    form = {pascal(key): _text(value) for key, value in data.items() if value is not None}
    form.update(
        EventType=event.event_type,
        AccountSid=event.account_sid,
        WorkspaceSid=event.workspace_sid,
        WorkspaceName=_text(data.get("workspace_name") or ""),
        EventDescription=event.description,
        ResourceType=event.resource_type,
        ResourceSid=event.resource_sid,
        Timestamp=str(event.event_date // 1000),
        TimestampMs=str(event.event_date),
        Sid=event.sid,
    )
    return form


__all__ = ["EventSender", "backoff_seconds", "event_form", "pascal"]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class _Page:
    """What a stream sends next: its events after its cursor, to `url`, signed with
    `token` (its account's)."""

    stream: EventStream
    url: str
    events: list[Event]
    token: str


class EventSender:
    """Delivers every workspace's event callback stream. Times for retries and leases are
    wall-clock (`wall_ms`); retention is measured on the engine's clock, which dates events."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        retention_days: int = 30,
        timeout_s: float = TIMEOUT_SECONDS,
        backoff_base_s: float = BACKOFF_BASE_SECONDS,
        backoff_cap_s: float = BACKOFF_CAP_SECONDS,
        poll_s: float = POLL_SECONDS,
        lease_ms: int = LEASE_MS,
        max_attempts: int = MAX_ATTEMPTS,
        page_size: int = PAGE_SIZE,
        max_streams: int = MAX_STREAMS,
        prune_every_s: float = PRUNE_EVERY_SECONDS,
        poster: Poster | None = None,
        wall_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        self.store, self.clock = store, clock
        self.retention_days = retention_days
        self.timeout_s, self.poll_s = timeout_s, poll_s
        self.backoff_base_s, self.backoff_cap_s = backoff_base_s, backoff_cap_s
        self.lease_ms, self.max_attempts = lease_ms, max_attempts
        self.page_size, self.max_streams = page_size, max_streams
        self.prune_every_s = prune_every_s
        self.wall_ms = wall_ms
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.poster = poster or Poster()
        self._owns_poster = poster is None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._streams: dict[str, asyncio.Task[None]] = {}
        self._touched: set[str] = set()  # workspaces with new events (loop thread only)
        self._rerun: set[str] = set()  # touched while their stream was already running
        self._put_off: dict[str, int] = {}  # streams waiting for their crowded destination
        self._scan_when_free = False  # a full scan found more streams than room
        self._retry_at: int | None = None  # the earliest retry waiting (wall-clock ms)
        # Retries this process recorded and that are still to come: the read of the next
        # retry (off the event loop) sees only committed rows, and a failure recorded on the
        # loop may wait in its open group of writes for a moment.
        self._noted_retries: list[int] = []
        self._next_scan = 0
        self._next_prune = 0
        self.renewed_at = 0  # when the leases were last renewed (wall-clock ms)
        self.loop = BackgroundLoop(
            "event callbacks", self._pass, log=log, backoff_cap_s=self.poll_s
        )

    # -- life ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.loop.start()

    async def stop(self) -> None:
        """Stop sending. A send under way is abandoned unacknowledged, so its event is sent
        again later (at least once); leases are given back for another process to go on."""
        await self.loop.close()
        streams = list(self._streams.values())
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
        if self._owns_poster:
            await self.poster.aclose()

    async def run_once(self) -> int:
        """Send every stream that has events due now, without `start`ing the loop, and
        return once each has sent its backlog or failed; returns how many streams ran. For a
        caller that drives delivery itself: the test kit delivers at each clock step."""
        self._loop = asyncio.get_running_loop()
        self._next_scan = 0
        await self._schedule()
        streams = list(self._streams.values())
        await asyncio.gather(*streams, return_exceptions=True)
        return len(streams)

    def on_commit(self, tx: Committed) -> None:
        """An engine commit listener (any thread): new events for a workspace with a URL
        wake its stream now."""
        if not tx.events or not tx.workspace.event_callback_url:
            return
        call_in_loop(self._loop, self._touch, tx.workspace.sid)

    def wake(self) -> None:
        """Look at every stream now (safe from any thread)."""
        self.loop.wake()

    def _touch(self, sid: str) -> None:
        self._touched.add(sid)
        self.loop.wake()

    # -- the loop -----------------------------------------------------------------------------

    async def _pass(self) -> float:
        try:
            self._renew()
            await self._schedule()
        except Exception:
            self._retry_at = None
            raise
        self._maybe_prune()
        return self._sleep_s()

    def _renew(self) -> None:
        """Push the lease of every stream this process holds forward, a third of a lease
        before it ends: a send may take as long as the timeout, the lease need not."""
        now = self.wall_ms()
        if not self._streams:
            self.renewed_at = now
            return
        if now - self.renewed_at >= self.lease_ms // 3:
            self.store.event_streams.renew_leases(self.owner, now + self.lease_ms)
            self.renewed_at = now

    async def _schedule(self) -> None:
        """Start a stream for each touched workspace, and on a full scan (every poll, or
        when a retry falls due) for each due one; then note when the next retry falls due.
        Both reads go through `Store.read`: on PostgreSQL they cost the event loop no wait."""
        now = self.wall_ms()
        candidates, self._touched = list(self._touched), set()
        retry_due = self._retry_at is not None and self._retry_at <= now
        if now >= self._next_scan or retry_due:
            self._next_scan = now + int(self.poll_s * 1000)
            # Streams put off for their destination are still due in the database: ask for
            # enough rows that they cannot crowd the others out of the answer.
            wanted = self.max_streams + len(self._put_off)
            candidates += await self.store.read(self.store.event_streams.due, now, wanted)
        for sid in dict.fromkeys(candidates):
            if self._put_off.get(sid, 0) > now:
                continue  # found again at the scan after its destination had time
            self._put_off.pop(sid, None)
            if sid in self._streams:
                self._rerun.add(sid)
            elif len(self._streams) >= self.max_streams:
                self._touched.add(sid)  # kept for when a stream finishes
                self._scan_when_free = True
            else:
                self._streams[sid] = asyncio.create_task(
                    self._deliver_stream(sid), name=f"switchboard-events-{sid}"
                )
        found = await self.store.read(self.store.event_streams.next_attempt, now)
        self._noted_retries = [at for at in self._noted_retries if at > now]
        self._retry_at = min(
            (at for at in (found, *self._noted_retries) if at is not None), default=None
        )
        for sid, until in list(self._put_off.items()):
            if until <= now:
                del self._put_off[sid]
                self._touched.add(sid)

    def _sleep_s(self) -> float:
        now = self.wall_ms()
        until = min(self._next_scan, self._next_prune, *self._put_off.values())
        if self._retry_at is not None:
            until = min(until, self._retry_at)
        if self._streams:
            until = min(until, self.renewed_at + self.lease_ms // 3)
        return max(until - now, 0) / 1000

    def _maybe_prune(self) -> None:
        now = self.wall_ms()
        if now < self._next_prune:
            return
        try:
            deleted = self.prune()
        except Exception:
            # Pruning can wait for the next round; delivery must not wait on it.
            log.exception("pruning old events failed")
            self._next_prune = now + int(self.prune_every_s * 1000)
            return
        # A full batch means more is left: go on at the next turn, letting requests in first.
        self._next_prune = now if deleted >= PRUNE_BATCH else now + int(self.prune_every_s * 1000)
        if deleted >= PRUNE_BATCH:
            self.loop.wake()

    def prune(self) -> int:
        """Delete one batch of events older than the retention period; returns how many."""
        before = self.clock.now_ms() - self.retention_days * DAY_MS
        return self.store.events.prune(before, PRUNE_BATCH)

    # -- one stream ---------------------------------------------------------------------------

    async def _deliver_stream(self, sid: str) -> None:
        try:
            while not self.loop.stopping and await self._deliver_page(sid):
                pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event callbacks of workspace %s failed", sid)
        finally:
            with contextlib.suppress(Exception):
                self.store.event_streams.release(sid, self.owner)
            self._streams.pop(sid, None)
            if sid in self._rerun:
                self._rerun.discard(sid)
                self._touched.add(sid)
            if self._scan_when_free:
                self._scan_when_free = False
                self._next_scan = 0
            # Look again: a failure has set a retry time to sleep until, a full stream has
            # left room, or a commit came in meanwhile.
            self.loop.wake()

    async def _deliver_page(self, sid: str) -> bool:
        """Send one page of the stream's events; True when there may be more to send now."""
        store = self.store
        if await until_committed(store) is not None:
            return False  # a failed group commit took back what this would have read
        if not store.event_streams.claim(sid, self.owner, self.wall_ms(), self.lease_ms):
            return False
        # Committed rows only, read off the event loop: this stream's own cursor moves were
        # committed before `until_committed` returned.
        page = await store.read(self._page, sid)
        if page is None:
            return False
        if not page.events:
            if page.stream.deleted:
                store.event_streams.drop(sid)
            return False
        return await self._send_events(page.stream, page.url, page.token, page.events)

    def _page(self, sid: str) -> _Page | None:
        """The stream's next page (no events: nothing to send); None when the stream has
        gone or has no URL. Reads only."""
        store = self.store
        stream = store.event_streams.get(sid)
        if stream is None or stream.url is None:
            return None
        events = store.events.after(sid, stream.cursor, self.page_size)
        account = store.get_account(stream.account_sid) if events else None
        return _Page(stream, stream.url, events, account.auth_token if account else "")

    async def _send_events(
        self, stream: EventStream, url: str, token: str, events: list[Event]
    ) -> bool:
        sid, attempts = stream.workspace_sid, stream.attempts
        skipped: tuple[int, int] | None = None
        for event in events:
            if self.loop.stopping:
                return False
            if not stream.wants(event.event_type):
                skipped = (event.seq, event.ordinal)  # filtered out: passed over, not sent
                continue
            if self.poster.crowded(url):
                # Its destination has all the requests it may take: try again after a
                # timeout's worth of time rather than hold a stream's room waiting.
                self._put_off[sid] = self.wall_ms() + int(self.timeout_s * 1000)
                self._pass_over(sid, skipped)
                return False
            if not self.store.event_streams.claim(sid, self.owner, self.wall_ms(), self.lease_ms):
                return False  # the lease was lost: another process has the stream
            error = await self._post(url, token, event)
            if error is None:
                if not self._advance(sid, (event.seq, event.ordinal), 1):
                    return False
                skipped, attempts = None, 0
                continue
            if skipped is not None:
                self._pass_over(sid, skipped)
                skipped, attempts = None, 0  # the failing event is a new head
            attempts += 1
            if not self.max_attempts or attempts < self.max_attempts:
                self._fail(sid, error, attempts)
                return False
            if not self._skip(sid, event, error, attempts):
                return False
            attempts = 0
        self._pass_over(sid, skipped)
        return True

    def _pass_over(self, sid: str, filtered: tuple[int, int] | None) -> None:
        """Move the cursor over events the filter passed over, when there are any."""
        if filtered is not None:
            self._advance(sid, filtered, 0)

    def _advance(self, sid: str, cursor: tuple[int, int], delivered: int) -> bool:
        return self.store.event_streams.advance(
            sid, self.owner, cursor, delivered=delivered, now=self.wall_ms()
        )

    def _fail(self, sid: str, error: str, attempts: int) -> None:
        delay = backoff_seconds(attempts, self.backoff_base_s, self.backoff_cap_s)
        log.warning("event callback of workspace %s failed (attempt %d): %s", sid, attempts, error)
        at = self.wall_ms() + int(delay * 1000)
        self.store.event_streams.fail(sid, self.owner, error, at)
        # Known here already: a retry due before the loop next asks the database is not
        # left for the next poll.
        self._retry_at = at if self._retry_at is None else min(self._retry_at, at)
        self._noted_retries.append(at)

    def _skip(self, sid: str, event: Event, error: str, attempts: int) -> bool:
        log.error(
            "event callback of workspace %s: skipping event %s after %d failed attempts: %s",
            sid, event.sid, attempts, error,
        )  # fmt: skip
        note = f"{event.sid} ({event.event_type}) after {attempts} attempts: {error}"
        return self.store.event_streams.skip(sid, self.owner, (event.seq, event.ordinal), note)

    async def _post(self, url: str, token: str, event: Event) -> str | None:
        """None when a 2xx acknowledged the event, else why it was not delivered. The reply's
        body is read (up to the poster's cap) only so the connection can be used again."""
        form = event_form(event)
        headers = {
            "X-Twilio-Signature": signature(token, url, form),
            # Twilio's webhook idempotency header: a retried event carries the same value.
            "I-Twilio-Idempotency-Token": event.sid,
        }
        started = time.perf_counter()
        reply = await self.poster.post(url, form, headers, self.timeout_s)
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        log.info(
            "event callback %s (%s) of workspace %s to %s: %s in %.1f ms",
            event.sid, event.event_type, event.workspace_sid, url,
            reply if isinstance(reply, str) else f"HTTP {reply.status}", elapsed_ms,
            extra={
                "event_sid": event.sid, "workspace_sid": event.workspace_sid, "url": url,
                "status": None if isinstance(reply, str) else reply.status,
                "duration_ms": elapsed_ms,
            },
        )  # fmt: skip
        if isinstance(reply, str):
            return reply
        if reply.ok:
            return None
        if 300 <= reply.status < 400:
            return f"{url} answered HTTP {reply.status} (redirects are not followed)"
        return f"{url} answered HTTP {reply.status}"
