"""Clocks: the system clock for production and a manual clock that only moves when told to."""

from __future__ import annotations

import threading
import time


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
