"""The one way Switchboard works in the background: a pass repeated on the event loop.

The tick loop and both callback senders are each a `BackgroundLoop` around a pass of their
own. A pass returns how long to sleep before the next one; a wake-up cuts that sleep short.
A pass that raises is logged, counted and retried after a capped, jittered backoff (a wake-up
does not cut a backoff short, so a failing database is not hammered once per commit), and the
loop goes on: one database error, or any bug in a pass, must not end background work for the
life of the process. `status()` tells the health endpoint whether the loop runs and succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from switchboard.asyncio_bridge import call_in_loop

Pass = Callable[[], Awaitable[float]]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def backoff_seconds(failures: int, base: float, cap: float) -> float:
    """The wait after the `failures`-th failure in a row: base doubling up to cap, then a
    random half of it taken off so many failing loops or streams do not retry in step."""
    delay = min(cap, base * 2.0 ** min(max(failures - 1, 0), 30))
    return delay * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class LoopStatus:
    """How a background loop is doing. `last_pass` is the wall-clock time (epoch ms) its last
    pass ended well, or None before the first; `started` when the loop began (None before);
    `failures` counts failed passes in a row."""

    name: str
    running: bool
    failures: int
    last_error: str | None
    last_pass: int | None
    started: int | None = None


class BackgroundLoop:
    """Runs `pass_` until `stop`, sleeping between passes for as long as each pass asks."""

    def __init__(
        self,
        name: str,
        pass_: Pass,
        *,
        log: logging.Logger,
        backoff_base_s: float = 0.25,
        backoff_cap_s: float = 10.0,
        on_failure: Callable[[BaseException], None] | None = None,
        wall_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        self.name = name
        self._pass = pass_
        self._log = log
        self.backoff_base_s, self.backoff_cap_s = backoff_base_s, backoff_cap_s
        self._on_failure = on_failure
        self._wall_ms = wall_ms
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.failures = 0
        self.last_error: str | None = None
        self.last_pass: int | None = None
        self._running = False
        self._started: int | None = None

    # -- life ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Run on the current event loop, in a task of its own. A loop that was stopped may
        be started again, on this event loop or another (an app's lifespan may run twice)."""
        self._wake, self._stop = asyncio.Event(), asyncio.Event()
        self._task = asyncio.create_task(self.run(), name=f"switchboard-{self.name}")

    async def run(self) -> None:
        """The loop itself; returns only once `stop` is called."""
        self._loop = asyncio.get_running_loop()
        self._running = True
        self._started = self._wall_ms()
        try:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    delay = await self._pass()
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    await self._failed(error)
                    continue
                self.failures, self.last_error = 0, None
                self.last_pass = self._wall_ms()
                await self._sleep(delay, wakeable=True)
        finally:
            self._running = False

    def wake(self) -> None:
        """Run a pass now (safe to call from any thread)."""
        call_in_loop(self._loop, self._wake.set)

    def stop(self) -> None:
        """Stop after the pass under way (safe to call from any thread)."""
        call_in_loop(self._loop, self._stop_now)
        if self._loop is None:
            self._stop_now()

    async def close(self) -> None:
        """Stop, and wait until the loop has ended."""
        self._stop_now()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def status(self) -> LoopStatus:
        running = self._running and not self._stop.is_set()
        return LoopStatus(
            self.name, running, self.failures, self.last_error, self.last_pass, self._started
        )

    # -- inside -------------------------------------------------------------------------------

    def _stop_now(self) -> None:
        self._stop.set()
        self._wake.set()

    async def _failed(self, error: BaseException) -> None:
        self.failures += 1
        self.last_error = f"{type(error).__name__}: {error}"
        delay = backoff_seconds(self.failures, self.backoff_base_s, self.backoff_cap_s)
        # The traceback once per run of failures: an outage fails every pass the same way, and
        # one line each after the first keeps the log readable while it lasts.
        self._log.error(
            "%s failed (%d in a row), next try in %.2f s: %s",
            self.name, self.failures, delay, self.last_error,
            exc_info=error if self.failures == 1 else None,
        )  # fmt: skip
        if self._on_failure is not None:
            try:
                self._on_failure(error)
            except Exception:
                self._log.exception("%s: handling a failure failed", self.name)
        await self._sleep(delay, wakeable=False)

    async def _sleep(self, seconds: float, *, wakeable: bool) -> None:
        event = self._wake if wakeable else self._stop
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=max(seconds, 0.0))
