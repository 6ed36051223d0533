"""Reaching an asyncio loop from wherever a commit happens (its own thread or another)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any


def call_in_loop(
    loop: asyncio.AbstractEventLoop | None, callback: Callable[..., Any], *args: Any
) -> None:
    """Run `callback(*args)` on `loop`: at once when called from it, scheduled thread-safely
    when called from another thread, and not at all when the loop is gone."""
    if loop is None or loop.is_closed():
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        callback(*args)
        return
    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing to reach
        loop.call_soon_threadsafe(callback, *args)
