"""Reaching an asyncio loop from wherever a commit happens (its own thread or another), and
waiting on it for a group commit."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Protocol


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


class Commits(Protocol):
    """What `until_committed` needs of the store (storage.Store)."""

    @property
    def commit_pending(self) -> bool: ...
    def after_commit(self, callback: Callable[[BaseException | None], None]) -> None: ...


async def until_committed(store: Commits) -> BaseException | None:
    """Wait, on the event loop, until the writes made so far are committed (with group
    commit a write is a moment away from its COMMIT); None when they are, else why they
    failed. A sender reading rows to send to the outside world waits first, so it never sends
    what a failed group commit took back."""
    if not store.commit_pending:
        return None
    loop = asyncio.get_running_loop()
    done: asyncio.Future[BaseException | None] = loop.create_future()

    def settle(failure: BaseException | None) -> None:
        if not done.done():
            done.set_result(failure)

    # The group may commit on another thread, and its loop, than this one (a server whose
    # requests run on a loop of their own, as the test client's do): a future set from
    # there would not wake this loop, asleep with nothing else to do.
    store.after_commit(lambda failure: call_in_loop(loop, settle, failure))
    return await done
