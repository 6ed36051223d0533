"""Waiting on a condition instead of for a fixed time: a test that polls passes as soon as
what it waits for happens, and a loaded machine only makes it slower, never wrong."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# Generous: a deadline only matters when the condition never comes, and then the test fails
# either way; on a machine shared with other work a tight one fails tests that would pass.
DEADLINE_S = 15.0
POLL_S = 0.01


class _Poll(Generic[T]):
    """Looks at `check` until it returns something truthy, failing once `timeout` is past."""

    def __init__(self, check: Callable[[], T], timeout: float, what: str) -> None:
        self.check, self.timeout, self.what = check, timeout, what or "the condition"
        self.deadline = time.monotonic() + timeout

    def holds(self) -> T | None:
        value = self.check()
        if value:
            return value
        if time.monotonic() > self.deadline:
            raise AssertionError(
                f"{self.what} did not hold within {self.timeout} s: last value {value!r}"
            )
        return None


def eventually(check: Callable[[], T], timeout: float = DEADLINE_S, what: str = "") -> T:
    """Poll `check` until it returns something truthy and return that; fail after `timeout`
    seconds, naming `what` was awaited and the last value seen."""
    poll = _Poll(check, timeout, what)
    while (value := poll.holds()) is None:
        time.sleep(POLL_S)
    return value


async def eventually_async(
    check: Callable[[], T], timeout: float = DEADLINE_S, what: str = ""
) -> T:
    """`eventually` for a coroutine on an event loop: it yields to the loop between looks, so
    the tasks it waits on run meanwhile."""
    poll = _Poll(check, timeout, what)
    while (value := poll.holds()) is None:
        await asyncio.sleep(POLL_S)
    return value
