"""Time: the clocks, and the loop that processes deadlines as they fall due.

The loop sleeps until the earliest deadline (or until a write wakes it), then runs the
engine's tick in small batches so requests interleave with a large burst. With PostgreSQL,
several processes share the deadlines: only the holder of a session advisory lock ticks, and
when it dies its connection closes, the lock is freed and another process takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Protocol

from switchboard.loops import call_in_loop

log = logging.getLogger("switchboard.timers")

# How often a process that is not the leader tries to become it, and how long the leader
# sleeps at most: deadlines written by other processes are found within this time.
POLL_SECONDS = 0.25
IDLE_SECONDS = 5.0


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
    """What the loop needs from the engine."""

    def tick(self, now: int | None = None, *, limit: int | None = None) -> int: ...
    def next_deadline(self) -> int | None: ...
    def now(self) -> int: ...


class Leadership(Protocol):
    """Who runs the tick (see storage.leader): `acquire` is True while this process leads;
    `shared` is True when other processes may lead instead."""

    shared: bool

    def acquire(self) -> bool: ...
    def release(self) -> None: ...


class TickLoop:
    """Runs `engine.tick` when deadlines fall due, sleeping in between."""

    def __init__(self, engine: Ticking, leadership: Leadership, *, batch: int = 1000) -> None:
        self.engine = engine
        self.leadership = leadership
        self.batch = batch
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self.is_leader = False
        # When the loop means to look at the deadlines next (engine milliseconds).
        self._wake_at = -1

    def wake(self) -> None:
        """Look at the deadlines again now (safe to call from any thread)."""
        call_in_loop(self._loop, self._wake.set)

    def wake_for(self, deadline: int | None) -> None:
        """A commit wrote `deadline` (its earliest): wake only when that is before the moment
        the loop already means to wake at. Every other commit would cost the loop three
        queries (leadership, due deadlines, next deadline) for nothing."""
        if deadline is not None and deadline < self._wake_at:
            self.wake()

    def stop(self) -> None:
        self._stopping = True
        self.wake()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            while not self._stopping:
                self._wake_at = -1  # while draining, any new deadline wakes it again
                self.is_leader = self.leadership.acquire()
                delay = POLL_SECONDS
                if self.is_leader:
                    await self._drain()
                    delay = self._sleep_seconds()
                self._wake_at = self.engine.now() + int(delay * 1000)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
        finally:
            self.leadership.release()

    async def _drain(self) -> None:
        """Process everything due, a batch at a time, letting requests in between."""
        while not self._stopping:
            try:
                done = self.engine.tick(limit=self.batch)
            except Exception:
                log.exception("tick failed")
                return
            if done < self.batch:
                return
            await asyncio.sleep(0)

    def _sleep_seconds(self) -> float:
        upper = POLL_SECONDS if self.leadership.shared else IDLE_SECONDS
        deadline = self.engine.next_deadline()
        if deadline is None:
            return upper
        return min(max((deadline - self.engine.now()) / 1000, 0.0), upper)
