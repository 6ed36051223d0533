"""Time spent in the database, measured where the Store meets its connection.

`TimedDatabase` stands between the Store (and its collaborators) and the `Database`, and
tells an observer how long each call took: what `/switchboard/metrics` reports as database
time. Storage knows nothing of metrics; the app hands the Store an observer
(`Store.observe_database`).

What counts: every statement, and of a write its opening (BEGIN, the lock, the opening
statements) and its end (held rows, COMMIT, on SQLite a group's COMMIT when it runs), not
the engine's work in between. Only the outermost call is timed: rows a connection flushes
inside a statement, or a commit callback that reads again, are part of the call that set
them off. The commit callbacks that run inside a COMMIT only note what to do next, so their
time in it is small.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from switchboard.storage.database import (
    CommitCallback,
    Database,
    Held,
    Outage,
    Params,
    Row,
    Statement,
)

# Told the seconds of each timed call, on the thread that made it.
DatabaseObserver = Callable[[float], None]
T = TypeVar("T")


class TimedDatabase:
    """A `Database` whose calls are timed (see the module docstring)."""

    def __init__(self, inner: Database) -> None:
        self.inner = inner
        self.dialect = inner.dialect
        self.events_channel = inner.events_channel
        self.observer: DatabaseObserver | None = None
        self._local = threading.local()

    def _timed(self, call: Callable[..., T], *args: Any) -> T:
        observer = self.observer
        local = self._local
        if observer is None or getattr(local, "busy", False):
            return call(*args)
        local.busy = True
        started = time.perf_counter()
        try:
            return call(*args)
        finally:
            local.busy = False
            observer(time.perf_counter() - started)

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return self._timed(self.inner.fetchone, sql, params)

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return self._timed(self.inner.fetchall, sql, params)

    def execute(self, sql: str, params: Params = ()) -> int:
        return self._timed(self.inner.execute, sql, params)

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        self._timed(self.inner.executemany, sql, rows)

    def executemany_at_end(self, sql: str, rows: Sequence[Params]) -> None:
        self._timed(self.inner.executemany_at_end, sql, rows)

    def announce(self, workspace_sids: Iterable[str]) -> None:
        self.inner.announce(workspace_sids)

    def insert_rows(self, table: str, columns: str, rows: Sequence[Params]) -> None:
        self._timed(self.inner.insert_rows, table, columns, rows)

    @contextmanager
    def transaction(
        self,
        lock_key: str | None = None,
        *,
        batch: bool = False,
        opening: Sequence[Statement] = (),
    ) -> Iterator[list[Row | None]]:
        observer, local = self.observer, self._local
        if observer is None or getattr(local, "busy", False):
            with self.inner.transaction(lock_key, batch=batch, opening=opening) as rows:
                yield rows
            return
        started, ending = time.perf_counter(), False
        try:
            local.busy = True
            with self.inner.transaction(lock_key, batch=batch, opening=opening) as rows:
                local.busy = False
                observer(time.perf_counter() - started)
                yield rows
                started, ending = time.perf_counter(), True
                local.busy = True
        finally:
            local.busy = False
            if ending:
                observer(time.perf_counter() - started)

    def prefetch(self, statements: Sequence[Statement]) -> None:
        self._timed(self.inner.prefetch, statements)

    async def prepare_write(self, lock_key: str, opening: Sequence[Statement]) -> None:
        # The wait for a group to open (PostgreSQL) is the request's database time. Other
        # requests run on this thread meanwhile, so the busy flag, which is for nested calls
        # of one request, is not set across the await.
        observer = self.observer
        started = time.perf_counter()
        await self.inner.prepare_write(lock_key, opening)
        if observer is not None:
            observer(time.perf_counter() - started)

    @property
    def in_transaction(self) -> bool:
        return self.inner.in_transaction

    def hold(self, held: Held) -> None:
        self.inner.hold(held)

    @property
    def pipelined(self) -> bool:
        return self.inner.pipelined

    def send_held(self) -> None:
        self._timed(self.inner.send_held)

    def when_committed(self, callback: Callable[[], None]) -> None:
        self.inner.when_committed(callback)

    @property
    def group_open(self) -> bool:
        return self.inner.group_open

    def after_commit(self, callback: CommitCallback) -> None:
        self.inner.after_commit(callback)

    def enable_group_commit(self, schedule: Callable[[Callable[[], None]], object]) -> None:
        # The group's COMMIT runs later, scheduled by the first write of the group (and, on
        # the event loop, in that write's context): it is timed when it runs.
        def timed_schedule(commit: Callable[[], None]) -> object:
            return schedule(lambda: self._timed(commit))

        self.inner.enable_group_commit(timed_schedule)

    def disable_group_commit(self) -> None:
        self._timed(self.inner.disable_group_commit)

    def probe(self) -> Outage | None:
        # A connection of its own, never the Store's: not the Store's database time.
        return self.inner.probe()

    def close(self) -> None:
        self.inner.close()
