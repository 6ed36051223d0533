"""Waiting on a condition instead of for a fixed time: a test that polls passes as soon as
what it waits for happens, and a loaded machine only makes it slower, never wrong."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Generous: a deadline only matters when the condition never comes, and then the test fails
# either way; on a machine shared with other work a tight one fails tests that would pass.
DEADLINE_S = 15.0
POLL_S = 0.01


def eventually(check: Callable[[], T], timeout: float = DEADLINE_S, what: str = "") -> T:
    """Poll `check` until it returns something truthy and return that; fail after `timeout`
    seconds, naming `what` was awaited and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(_late(what or "the condition", timeout, value))
        time.sleep(POLL_S)


async def eventually_async(
    check: Callable[[], T], timeout: float = DEADLINE_S, what: str = ""
) -> T:
    """`eventually` for a coroutine on an event loop: it yields to the loop between looks, so
    the tasks it waits on run meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(_late(what or "the condition", timeout, value))
        await asyncio.sleep(POLL_S)


def _late(what: str, timeout: float, value: object) -> str:
    return f"{what} did not hold within {timeout} s: last value {value!r}"
