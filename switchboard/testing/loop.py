"""The kit's event loop, on one thread of its own for the kit's life.

Every request, clock step and callback delivery runs on it, handed over from the caller's
thread. One loop thread (rather than running the loop on the caller's thread) is what lets
the kit be called from anywhere the real service could be: from an `async def` test that has
a loop of its own, from the application's worker threads, and from inside a callback the kit
is delivering (the application answering an assignment by updating the reservation).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from switchboard.testing.errors import TaskRouterTestError

T = TypeVar("T")

# Longer than any callback's own timeout (5 s, 10 s for events), so a slow callback target
# is reported by the sender first; past this the kit reports a hang instead of being one.
WAIT_SECONDS = 60.0


class LoopThread:
    def __init__(self, name: str = "switchboard-testing") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = WAIT_SECONDS) -> T:
        """Run `coroutine` on the loop and return its result (or raise its exception) in
        the caller's thread."""
        if threading.get_ident() == self._thread.ident:
            coroutine.close()
            raise TaskRouterTestError(
                "the test kit was called from its own event loop (an async callback handler"
                " blocking on the synchronous Twilio client?): handle callbacks in a plain"
                " function, or call the kit from another thread"
            )
        if self.loop.is_closed():
            coroutine.close()
            raise TaskRouterTestError("this Switchboard has been closed (its test is over)")
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise TaskRouterTestError(
                f"Switchboard did not answer within {timeout:g} s; a callback target that"
                " never returns is the usual cause"
            ) from None

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(WAIT_SECONDS)
        self.loop.close()
