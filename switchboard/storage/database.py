"""What the Store needs from a connection, and what the SQLite and PostgreSQL ones share.

The Store writes portable SQL with `?` placeholders. A database that cannot be used now (a lost
connection, a locked or unwritable file) raises `switchboard.errors.DatabaseUnavailable` from any
method, and keeps nothing of the write it was in. Reads run outside transactions
(autocommit); writes run in `transaction(lock_key)`, one writer per `lock_key` at a time. How
each database keeps that promise, and what it does to make commits cheap, is its own module's
business (`sqlite.py`, `postgres.py`); `databases.connect` picks one from a URL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

Row = tuple[Any, ...]
Params = Sequence[Any]
# Why the database cannot be used, and since when (wall clock, epoch milliseconds).
Outage = tuple[str, int]
# One statement and its parameters.
Statement = tuple[str, Params]
# Told, once the transaction that wrote something is over, whether it failed (None: committed).
CommitCallback = Callable[[BaseException | None], None]


class Held(Protocol):
    """Writes a transaction holds back (see `HeldRows`): the connection flushes them before
    its next other statement or the commit, and discards them on a rollback."""

    def flush(self) -> None: ...
    def discard(self) -> None: ...


class Database(Protocol):
    """One connection to SQLite or PostgreSQL, as the Store uses it. Statements take `?`
    placeholders; every method may be called from any thread (a lock keeps statements whole)."""

    dialect: str  # "sqlite" or "postgres", for the few statements written per database
    # Where a write announces the events it commits to other processes (PostgreSQL's
    # NOTIFY channel of this schema); None where no other process shares the database.
    events_channel: str | None

    def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...
    def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...
    def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns how many rows it changed."""
        ...

    def executemany(self, sql: str, rows: Sequence[Params]) -> None: ...
    def executemany_at_end(self, sql: str, rows: Sequence[Params]) -> None:
        """`executemany` for statements whose place among the write's others does not matter
        (new rows, upserts of a table nothing else in the write touches): inside a write the
        database may send them with its end (PostgreSQL's groups do, so that a write the
        engine refuses has sent nothing to undo)."""
        ...

    def announce(self, workspace_sids: Iterable[str]) -> None:
        """Have other processes told, once the write in progress commits, that these
        workspaces committed events (PostgreSQL's NOTIFY on `events_channel`); nothing where
        no other process shares the database."""
        ...

    def insert_rows(self, table: str, columns: str, rows: Sequence[Params]) -> None:
        """Insert `rows`, each in the order of `columns` (a comma-separated list), however
        this database takes many rows fastest."""
        ...

    def transaction(
        self,
        lock_key: str | None = None,
        *,
        batch: bool = False,
        opening: Sequence[Statement] = (),
    ) -> AbstractContextManager[list[Row | None]]:
        """One write: no other write with the same `lock_key` runs at once (on SQLite no
        other write at all; on PostgreSQL in no process sharing the database). Nested use
        joins the outer write. `batch` marks a large write (see `Store.write`). Yields the
        first row of each `opening` statement, run first in the write: on PostgreSQL they
        go with BEGIN and the lock, in one round trip."""
        ...

    @property
    def in_transaction(self) -> bool: ...
    def hold(self, held: Held) -> None:
        """Have `held` flushed before the write's next other statement or its commit, and
        discarded if it rolls back."""
        ...

    @property
    def pipelined(self) -> bool:
        """Whether the write in progress sends statements without waiting for each."""
        ...

    def send_held(self) -> None:
        """Write held rows now rather than at the next statement."""
        ...

    def when_committed(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the write in progress is committed; never if it rolls back."""
        ...

    @property
    def group_open(self) -> bool:
        """Whether writes that have returned still wait for their group's COMMIT."""
        ...

    def after_commit(self, callback: CommitCallback) -> None:
        """Tell `callback` how the writes so far ended, once they have (at once if they have)."""
        ...

    def enable_group_commit(self, schedule: Callable[[Callable[[], None]], object]) -> None:
        """Let the calling thread's writes share commits; `schedule(commit)` runs each group's
        COMMIT later (databases that cannot group commit each write alone)."""
        ...

    def disable_group_commit(self) -> None: ...
    def prefetch(self, statements: Sequence[Statement]) -> None:
        """Inside a write, run `statements` (reads) together where the database can (one
        round trip on PostgreSQL) and answer the write's next `fetchall` of each from what
        came back; elsewhere nothing."""
        ...

    async def prepare_write(self, lock_key: str, opening: Sequence[Statement]) -> None:
        """On the event loop, before a write to `lock_key`: wait (without holding the loop)
        until that write can run without waiting on the database (PostgreSQL: a group of
        writes to it is open); nothing elsewhere."""
        ...

    def probe(self) -> Outage | None:
        """None when the database answers now; else why not and since when. Never waits on
        the connection the Store uses, so a health check cannot be held up behind a write."""
        ...

    def close(self) -> None: ...


def run_callbacks(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        callback()


class ConnectionBase:
    """What both connections share: the held-writes hook (`hold` registers writes to flush
    before the next statement; every statement method calls `_release` under the connection
    lock), and the defaults of a connection that commits each write at once."""

    _depth: int
    _lock: threading.RLock
    _held: Held | None = None
    events_channel: str | None = None
    # when_committed callbacks of the write in progress.
    _on_commit: list[Callable[[], None]]

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @property
    def group_open(self) -> bool:
        """Whether committed-looking writes still wait for a group commit (SQLite only)."""
        return False

    def after_commit(self, callback: CommitCallback) -> None:
        """Run `callback` once the writes so far are committed (at once: they are)."""
        callback(None)

    def when_committed(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the write in progress is committed, and never if it is rolled
        back (a savepoint of a group included). Outside a write: at once."""
        if self._depth:
            self._on_commit.append(callback)
        else:
            callback()

    def _first_rows(self, opening: Sequence[Statement]) -> list[Row | None]:
        """The first row of each statement, run in turn (a nested write's `opening`)."""
        return [self.fetchone(sql, params) for sql, params in opening]

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        raise NotImplementedError  # each connection reads its own way

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        raise NotImplementedError  # each connection writes its own way

    def executemany_at_end(self, sql: str, rows: Sequence[Params]) -> None:
        """At once: only PostgreSQL's groups hold statements to a write's end."""
        self.executemany(sql, rows)

    def announce(self, workspace_sids: Iterable[str]) -> None:
        """Only PostgreSQL is shared by processes that listen (see PostgresDatabase)."""

    def _take_on_commit(self) -> list[Callable[[], None]]:
        callbacks, self._on_commit = self._on_commit, []
        return callbacks

    def enable_group_commit(self, schedule: Callable[[Callable[[], None]], object]) -> None:
        """Only SQLite groups commits (see SQLiteDatabase). A PostgreSQL write takes its
        workspace's lock across processes; a group holding several could deadlock."""

    def disable_group_commit(self) -> None:
        pass

    async def prepare_write(self, lock_key: str, opening: Sequence[Statement]) -> None:
        """Only PostgreSQL prepares a write (see PostgresDatabase.prepare_write)."""

    def prefetch(self, statements: Sequence[Statement]) -> None:
        """Only PostgreSQL reads ahead (see PostgresDatabase.prefetch)."""

    def hold(self, held: Held) -> None:
        self._held = held

    # Whether the write in progress sends statements without waiting for each (PostgreSQL's
    # pipeline mode; see PostgresDatabase).
    pipelined = False

    def send_held(self) -> None:
        """Write held rows now rather than at the next statement."""
        with self._lock:
            self._release()

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.flush()

    def _drop_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.discard()
