"""Time: the clocks, and the loop that processes deadlines as they fall due.

The loop sleeps until the earliest deadline (or until a write wakes it), then runs the
engine's tick in small batches so requests interleave with a large burst. With PostgreSQL,
several processes share the deadlines: only the holder of a session advisory lock ticks, and
when it dies its connection closes, the lock is freed and another process takes over.

Its looks cost the event loop nothing on PostgreSQL: the leadership is checked on a thread
and the earliest deadline read through the read pool (`Store.read`); the tick itself, a write
of the single-threaded engine, runs on the loop, and only when that read found a deadline due.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from switchboard.background import BackgroundLoop, LoopStatus

log = logging.getLogger("switchboard.timers")

# How often a process that is not the leader tries to become it, and how long the leader
# sleeps at most: deadlines written by other processes are found within this time.
POLL_SECONDS = 0.25
IDLE_SECONDS = 5.0
# A loop whose last good pass is older than this is reported unhealthy even while it runs:
# it is stuck (a statement waiting on a lock, the event loop blocked).
STALE_SECONDS = 30.0


class SystemClock:
    """Wall-clock time in epoch milliseconds."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock for deterministic runs: starts at a given moment and moves only through
    `set_ms` and `advance_ms`, never backwards."""

    def __init__(self, start_ms: int | None = None) -> None:
        self._now = SystemClock().now_ms() if start_ms is None else start_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        return self._now

    def set_ms(self, value: int) -> int:
        with self._lock:
            if value < self._now:
                raise ValueError("the manual clock never moves backwards")
            self._now = value
            return self._now

    def advance_ms(self, delta: int) -> int:
        if delta < 0:
            raise ValueError("the manual clock never moves backwards")
        return self.set_ms(self._now + delta)


class Ticking(Protocol):
    """What the loop needs from the engine: `next_deadline` is a plain read of the Store,
    which the loop may run on another thread; `tick` writes, on the loop."""

    def tick(self, now: int | None = None, *, limit: int | None = None) -> int: ...
    def next_deadline(self) -> int | None: ...
    def now(self) -> int: ...


class Leadership(Protocol):
    """Who runs the tick (see storage.leader): `check` is True while this process leads and
    raises when it cannot tell (the database is unreachable), without holding the event loop
    for a round trip; `shared` is True when other processes may lead instead."""

    shared: bool

    async def check(self) -> bool: ...
    def release(self) -> None: ...


# Runs a read of the engine's (the earliest deadline) where it costs the event loop least:
# `Store.read`, on PostgreSQL a thread of its read pool.
Read = Callable[[Callable[[], int | None]], Awaitable[int | None]]


async def read_inline(read: Callable[[], int | None]) -> int | None:
    return read()


@dataclass(frozen=True)
class TickStatus:
    """What the health endpoint reports of the tick loop. `last_pass` is the wall-clock time
    (epoch ms) of the loop's last pass that ended well, as leader or as a contender; `lag_ms`
    how late the leader's last pass found the earliest deadline it processed."""

    loop: LoopStatus
    is_leader: bool
    lag_ms: int

    @property
    def healthy(self) -> bool:
        """Running, and its last pass went well recently enough."""
        loop = self.loop
        last = loop.last_pass or loop.started
        if not loop.running or loop.failures or last is None:
            return False
        return _wall_ms() - last <= STALE_SECONDS * 1000


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class TickLoop:
    """Runs `engine.tick` when deadlines fall due, sleeping in between.

    Each pass checks the leadership and reads the earliest deadline through `read`; only a
    deadline due sends it to the engine's tick, on the event loop. A pass that fails (the
    database is unreachable, a tick raises) gives up the leadership at once: `is_leader` is
    False and the advisory lock is released, so a healthy process takes over the deadlines
    instead of two processes both claiming to lead. The loop retries with a backoff and
    leads again only once it holds the lock again."""

    def __init__(
        self,
        engine: Ticking,
        leadership: Leadership,
        *,
        batch: int = 1000,
        read: Read = read_inline,
    ) -> None:
        self.engine = engine
        self.leadership = leadership
        self.batch = batch
        self._read = read
        self.is_leader = False
        self.lag_ms = 0
        # When the loop means to look at the deadlines next (engine milliseconds).
        self._wake_at = -1
        self.loop = BackgroundLoop(
            "tick loop", self._pass, log=log, backoff_cap_s=IDLE_SECONDS,
            on_failure=self._lose_leadership,
        )  # fmt: skip

    def wake(self) -> None:
        """Look at the deadlines again now (safe to call from any thread)."""
        self.loop.wake()

    def wake_for(self, deadline: int | None) -> None:
        """A commit wrote `deadline` (its earliest): wake only when that is before the moment
        the loop already means to wake at. Every other commit would cost the loop a look
        (leadership, the earliest deadline) for nothing."""
        if deadline is not None and deadline < self._wake_at:
            self.wake()

    def stop(self) -> None:
        self.loop.stop()

    async def run(self) -> None:
        try:
            await self.loop.run()
        finally:
            self.is_leader = False
            self.leadership.release()

    def status(self) -> TickStatus:
        return TickStatus(self.loop.status(), self.is_leader, self.lag_ms)

    async def _pass(self) -> float:
        self._wake_at = -1  # while it looks and drains, any new deadline wakes it again
        self.is_leader = await self.leadership.check()
        delay = POLL_SECONDS
        self.lag_ms = 0  # a contender processes no deadline, so it is late for none
        if self.is_leader:
            deadline = await self._read(self.engine.next_deadline)
            now = self.engine.now()
            if deadline is not None and deadline <= now:
                self.lag_ms = now - deadline
                await self._drain()
                deadline = await self._read(self.engine.next_deadline)
            delay = self._sleep_seconds(deadline)
        self._wake_at = self.engine.now() + int(delay * 1000)
        return delay

    def _lose_leadership(self, error: BaseException) -> None:
        self.is_leader = False
        self._wake_at = -1
        self.leadership.release()

    async def _drain(self) -> None:
        """Process everything due, a batch at a time, letting requests in between."""
        while not self.loop.stopping:
            started = time.perf_counter()
            processed = self.engine.tick(limit=self.batch)
            if processed:
                elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
                fields = {"processed": processed, "duration_ms": elapsed_ms, "lag_ms": self.lag_ms}
                log.info(
                    "deadline batch: %d processed in %.1f ms, %d ms late",
                    processed, elapsed_ms, self.lag_ms, extra=fields,
                )  # fmt: skip
            if processed < self.batch:
                return
            await asyncio.sleep(0)

    def _sleep_seconds(self, deadline: int | None) -> float:
        """Until `deadline` (the earliest one left), at most the poll or idle time."""
        upper = POLL_SECONDS if self.leadership.shared else IDLE_SECONDS
        if deadline is None:
            return upper
        return min(max((deadline - self.engine.now()) / 1000, 0.0), upper)
