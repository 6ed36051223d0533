"""Event callbacks: each workspace's events POSTed, in commit order, to its EventCallbackUrl.

Delivery is at least once and never reordered: a stream sends its head event until a 2xx
acknowledges it (retrying with capped, jittered exponential backoff, never skipping ahead),
and its cursor lives in the database, so delivery resumes where it stopped after a restart.
Events are read a small page at a time from the event log, so an endpoint that stays down
costs no memory. One process at a time delivers a stream (a lease row), whatever the number
of processes sharing a PostgreSQL database. The sender runs on the app's event loop; engine
writes never wait for it, they only wake it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx

from switchboard import __version__
from switchboard.loops import call_in_loop, until_committed
from switchboard.models import Clock, Event, Workspace
from switchboard.storage import Store
from switchboard.storage.event_rows import EventStream
from switchboard.webhooks import signature

log = logging.getLogger("switchboard.events")

TIMEOUT_SECONDS = 10.0  # below TaskRouter's documented 15 s answer budget
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 60.0
POLL_SECONDS = 5.0  # finds other processes' events, and any wake-up that was missed
PAGE_SIZE = 50
MAX_STREAMS = 32  # streams sending at once in this process
PRUNE_EVERY_SECONDS = 300.0
PRUNE_BATCH = 1000
DAY_MS = 86_400_000


class Committed(Protocol):
    """A committed engine write, as the sender sees it (engine.tx.Tx)."""

    @property
    def workspace(self) -> Workspace: ...

    @property
    def events(self) -> Sequence[object]: ...  # only whether there are any matters here


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


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """The wait after the `attempts`-th failure in a row: base doubling up to cap, then a
    random half of it taken off so many failing streams do not retry in step."""
    delay = min(cap, base * 2.0 ** min(max(attempts - 1, 0), 30))
    return delay * random.uniform(0.5, 1.0)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


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
        page_size: int = PAGE_SIZE,
        max_streams: int = MAX_STREAMS,
        prune_every_s: float = PRUNE_EVERY_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
        wall_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        self.store, self.clock = store, clock
        self.retention_days = retention_days
        self.timeout_s, self.poll_s = timeout_s, poll_s
        self.backoff_base_s, self.backoff_cap_s = backoff_base_s, backoff_cap_s
        self.page_size, self.max_streams = page_size, max_streams
        self.prune_every_s = prune_every_s
        self.wall_ms = wall_ms
        # A lease outlives one send (the timeout) and the bookkeeping around it with room.
        self.lease_ms = int((2 * timeout_s + 10) * 1000)
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._streams: dict[str, asyncio.Task[None]] = {}
        self._touched: set[str] = set()  # workspaces with new events (loop thread only)
        self._rerun: set[str] = set()  # touched while their stream was already running
        self._scan_when_free = False  # a full scan found more streams than room
        self._retry_at: int | None = None  # the earliest retry waiting (wall-clock ms)
        self._next_scan = 0
        self._next_prune = 0
        self._stopping = False

    # -- life ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout_s), transport=self._transport
        )
        self._task = asyncio.create_task(self._run(), name="switchboard-event-callbacks")

    async def stop(self) -> None:
        """Stop sending. A send under way is abandoned unacknowledged, so its event is sent
        again later (at least once); leases are given back for another process to go on."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        streams = list(self._streams.values())
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def on_commit(self, tx: Committed) -> None:
        """An engine commit listener (any thread): new events for a workspace with a URL
        wake its stream now."""
        if not tx.events or not tx.workspace.event_callback_url:
            return
        self._in_loop(self._touch, tx.workspace.sid)

    def wake(self) -> None:
        """Look at every stream now (safe from any thread)."""
        self._in_loop(lambda _: self._wake.set(), "")

    def _in_loop(self, action: Callable[[str], None], sid: str) -> None:
        call_in_loop(self._loop, action, sid)

    def _touch(self, sid: str) -> None:
        self._touched.add(sid)
        self._wake.set()

    # -- the loop -----------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                self._schedule()
            except Exception:  # the loop must outlive a database hiccup
                log.exception("scheduling event callbacks failed")
                self._retry_at = None
            try:
                self._maybe_prune()
            except Exception:
                log.exception("pruning old events failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._sleep_s())

    def _schedule(self) -> None:
        """Start a stream for each touched workspace, and on a full scan (every poll, or
        when a retry falls due) for each due one; then note when the next retry falls due."""
        now = self.wall_ms()
        candidates, self._touched = list(self._touched), set()
        retry_due = self._retry_at is not None and self._retry_at <= now
        if now >= self._next_scan or retry_due:
            self._next_scan = now + int(self.poll_s * 1000)
            candidates += self.store.due_event_streams(now, self.max_streams)
        for sid in dict.fromkeys(candidates):
            if sid in self._streams:
                self._rerun.add(sid)
            elif len(self._streams) >= self.max_streams:
                self._touched.add(sid)  # kept for when a stream finishes
                self._scan_when_free = True
            else:
                self._streams[sid] = asyncio.create_task(
                    self._deliver_stream(sid), name=f"switchboard-events-{sid}"
                )
        self._retry_at = self.store.next_event_attempt(now)

    def _sleep_s(self) -> float:
        now = self.wall_ms()
        until = min(self._next_scan, self._next_prune)
        if self._retry_at is not None:
            until = min(until, self._retry_at)
        return max(until - now, 0) / 1000

    def _maybe_prune(self) -> None:
        now = self.wall_ms()
        if now < self._next_prune:
            return
        deleted = self.prune()
        # A full batch means more is left: go on at the next turn, letting requests in first.
        self._next_prune = now if deleted >= PRUNE_BATCH else now + int(self.prune_every_s * 1000)
        if deleted >= PRUNE_BATCH:
            self._wake.set()

    def prune(self) -> int:
        """Delete one batch of events older than the retention period; returns how many."""
        before = self.clock.now_ms() - self.retention_days * DAY_MS
        return self.store.prune_events(before, PRUNE_BATCH)

    # -- one stream ---------------------------------------------------------------------------

    async def _deliver_stream(self, sid: str) -> None:
        try:
            while not self._stopping and await self._deliver_page(sid):
                pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event callbacks of workspace %s failed", sid)
        finally:
            with contextlib.suppress(Exception):
                self.store.release_event_stream(sid, self.owner)
            self._streams.pop(sid, None)
            if sid in self._rerun:
                self._rerun.discard(sid)
                self._touched.add(sid)
            if self._scan_when_free:
                self._scan_when_free = False
                self._next_scan = 0
            # Look again: a failure has set a retry time to sleep until, a full stream has
            # left room, or a commit came in meanwhile.
            self._wake.set()

    async def _deliver_page(self, sid: str) -> bool:
        """Send one page of the stream's events; True when there may be more to send now."""
        store = self.store
        if await until_committed(store) is not None:
            return False  # a failed group commit took back what this would have read
        if not store.claim_event_stream(sid, self.owner, self.wall_ms(), self.lease_ms):
            return False
        stream = store.event_stream(sid)
        if stream is None or stream.url is None:
            return False
        events = store.events_after(sid, stream.cursor, self.page_size)
        if not events:
            if stream.deleted:
                store.drop_event_stream(sid)
            return False
        account = store.get_account(stream.account_sid)
        token = account.auth_token if account else ""
        return await self._send_events(stream, stream.url, token, events)

    async def _send_events(
        self, stream: EventStream, url: str, token: str, events: list[Event]
    ) -> bool:
        sid, attempts = stream.workspace_sid, stream.attempts
        skipped: tuple[int, int] | None = None
        for event in events:
            if self._stopping:
                return False
            if not stream.wants(event.event_type):
                skipped = (event.seq, event.ordinal)  # filtered out: passed over, not sent
                continue
            if not self.store.claim_event_stream(sid, self.owner, self.wall_ms(), self.lease_ms):
                return False  # the lease was lost: another process has the stream
            error = await self._post(url, token, event)
            if error is not None:
                if skipped is not None:
                    self._advance(sid, skipped, 0)
                    attempts = 0  # the failing event is a new head
                self._fail(sid, error, attempts + 1)
                return False
            if not self._advance(sid, (event.seq, event.ordinal), 1):
                return False
            skipped, attempts = None, 0
        if skipped is not None:
            self._advance(sid, skipped, 0)
        return True

    def _advance(self, sid: str, cursor: tuple[int, int], delivered: int) -> bool:
        return self.store.advance_event_stream(
            sid, self.owner, cursor, delivered=delivered, now=self.wall_ms()
        )

    def _fail(self, sid: str, error: str, attempts: int) -> None:
        delay = backoff_seconds(attempts, self.backoff_base_s, self.backoff_cap_s)
        log.warning("event callback of workspace %s failed (attempt %d): %s", sid, attempts, error)
        self.store.fail_event_stream(sid, self.owner, error, self.wall_ms() + int(delay * 1000))

    async def _post(self, url: str, token: str, event: Event) -> str | None:
        """None when a 2xx acknowledged the event, else why it was not delivered."""
        assert self._client is not None
        form = event_form(event)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature(token, url, form),
            # Twilio's webhook idempotency header: a retried event carries the same value.
            "I-Twilio-Idempotency-Token": event.sid,
            "User-Agent": f"Switchboard/{__version__}",
        }
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self._client.stream(
                    "POST", url, content=urlencode(form), headers=headers
                ) as response:
                    # Read the (small) reply so the connection goes back to the pool: a new
                    # TCP connection per event costs more than the delivery itself.
                    await response.aread()
                    if 200 <= response.status_code < 300:
                        return None
                    return f"{url} answered HTTP {response.status_code}"
        except TimeoutError:
            return f"{url} did not answer within {self.timeout_s:g} s"
        except httpx.HTTPError as error:
            return f"{url} failed: {type(error).__name__} {error}".rstrip()
