"""The kit's event loop, run by the thread that calls the kit.

A request runs on the caller's own thread (`run_until_complete`): no thread hand-over, which
on a busy machine costs as much as serving a worker fetch. Two callers cannot do that:

- A thread that calls while the loop is already running in another: the application
  answering a callback (on a worker thread) by updating its reservation through the SDK, or
  a test's second thread. Its request is handed to the running loop, and the thread running
  it goes on until every such request has been answered, so none is left behind when it
  stops.
- A thread that runs an event loop of its own (an `async def` test or handler calling the
  synchronous SDK): asyncio runs one loop per thread, so the kit's runs on a helper thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from switchboard.testing.errors import TaskRouterTestError

T = TypeVar("T")

# Longer than any callback's own timeout (5 s, 10 s for events), so a slow callback target
# is reported by the sender first; past this the kit reports a hang instead of being one.
WAIT_SECONDS = 60.0


def _hang(timeout: float) -> TaskRouterTestError:
    return TaskRouterTestError(
        f"Switchboard did not answer within {timeout:g} s; a callback target that never"
        " returns is the usual cause"
    )


class KitLoop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._host_lock = threading.Lock()  # one thread runs the loop at a time
        self._state = threading.Lock()  # guards the three below
        self._host: int | None = None  # the thread running the loop, while one does
        self._guests: set[concurrent.futures.Future[Any]] = set()
        self._closed = False
        self._helper: concurrent.futures.ThreadPoolExecutor | None = None

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = WAIT_SECONDS) -> T:
        """Run `coroutine` on the kit's loop; its result, or its exception, in the caller's
        thread."""
        with self._state:
            if self._closed:
                coroutine.close()
                raise TaskRouterTestError("this Switchboard has been closed (its test is over)")
            host = self._host
            if host == threading.get_ident():
                coroutine.close()
                raise TaskRouterTestError(
                    "the test kit was called from inside its own event loop: an async callback"
                    " handler blocking on the synchronous Twilio client? Use a plain function"
                )
            if host is not None:
                guest = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
                self._guests.add(guest)
        if host is not None:
            return self._wait_as_guest(guest, timeout)
        if _runs_a_loop():
            return self._helper_thread().submit(self._run_as_host, coroutine, timeout).result()
        return self._run_as_host(coroutine, timeout)

    def _wait_as_guest(self, guest: concurrent.futures.Future[T], timeout: float) -> T:
        try:
            return guest.result(timeout)
        except concurrent.futures.TimeoutError:
            guest.cancel()
            raise _hang(timeout) from None
        finally:
            with self._state:
                self._guests.discard(guest)

    def _run_as_host(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        with self._host_lock:
            with self._state:
                self._host = threading.get_ident()
            try:
                return self.loop.run_until_complete(self._then_guests(coroutine, timeout))
            except TimeoutError:
                raise _hang(timeout) from None
            finally:
                with self._state:
                    self._host = None

    async def _then_guests(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        """`coroutine`, then every request handed over meanwhile, all within `timeout`; the
        loop stops only when none is left (a thread arriving after that runs the loop
        itself). One task does it all: `asyncio.timeout` rather than `wait_for`, which runs
        the coroutine in a task of its own, one more for every request."""
        async with asyncio.timeout(timeout):
            try:
                return await coroutine
            finally:
                while True:
                    with self._state:
                        waiting = [g for g in self._guests if not g.done()]
                        if not waiting:
                            self._host = None
                            break
                    await asyncio.wait([asyncio.wrap_future(g) for g in waiting])

    def _helper_thread(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._state:
            if self._helper is None:
                self._helper = concurrent.futures.ThreadPoolExecutor(
                    1, thread_name_prefix="switchboard-testing"
                )
            return self._helper

    def close(self) -> None:
        with self._state:
            if self._closed:
                return
            self._closed = True
        with self._host_lock:
            self.loop.close()
        if self._helper is not None:
            self._helper.shutdown(wait=False)


def _runs_a_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
