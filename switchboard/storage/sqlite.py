"""SQLite: one connection to a file in WAL mode, whose write lock is the transaction lock.

A write is `BEGIN IMMEDIATE` (one writer per database file, so `lock_key` needs no lock of its
own). Writes made on one event loop may share a COMMIT (`enable_group_commit`), and the WAL is
copied back into the file by a thread beside the writer (`Checkpointer`).

A file that cannot be used now (locked by another process beyond the busy timeout, read-only,
full, failing to read or write) raises `DatabaseUnavailable` (a 503) and keeps nothing of the
write; a statement that is wrong stays the error it is.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from switchboard.errors import DatabaseUnavailable
from switchboard.storage.checkpointer import Checkpointer
from switchboard.storage.database import (
    CommitCallback,
    ConnectionBase,
    Outage,
    Params,
    Row,
    Statement,
    run_callbacks,
)
from switchboard.storage.sql import insert_sql

# Primary result codes that say the file cannot be used now rather than that a statement is
# wrong: BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL. (CORRUPT is not among them:
# retrying will not help, and a 500 says so.)
_UNAVAILABLE_CODES = frozenset({5, 6, 8, 10, 13, 14, 15})


def unavailable(error: sqlite3.Error) -> DatabaseUnavailable | None:
    """The 503 for `error`, when it says the file cannot be used now; None otherwise."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is None or code & 0xFF not in _UNAVAILABLE_CODES:
        return None
    return DatabaseUnavailable(
        f"The database file cannot be used now ({error}); nothing of this request was kept."
        " Try again shortly"
    )


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL mode. The switch ignores busy_timeout, so when two processes open a new
    file at once one is refused with "database is locked"; it retries until the other is done."""
    deadline = time.monotonic() + 10
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SQLiteDatabase(ConnectionBase):
    """One SQLite connection in WAL mode; the transaction lock is the file's write lock."""

    dialect = "sqlite"

    def __init__(self, path: str, *, busy_timeout_ms: int = 10_000) -> None:
        """`busy_timeout_ms`: how long a write waits for another process's write lock on the
        file before it is refused with a 503."""
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        # isolation_level=None: we issue BEGIN ourselves, reads autocommit.
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        _enable_wal(self._conn)
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        # The one connection does all the work: give it a page cache that holds the hot
        # indexes (64 MiB, against SQLite's 2 MiB default) and memory-mapped reads.
        self._conn.execute("PRAGMA cache_size=-65536")
        self._conn.execute("PRAGMA mmap_size=268435456")
        self._conn.execute("PRAGMA temp_store=MEMORY")
        # Checkpoints run beside the writer (see Checkpointer); SQLite's own, inside COMMIT,
        # stays only as a backstop at 20,000 pages (about 80 MiB of WAL).
        self._checkpointer: Checkpointer | None = None
        if path != ":memory:":
            self._conn.execute("PRAGMA wal_autocheckpoint=20000")
            self._checkpointer = Checkpointer(path, lambda: self._depth > 0 or self._group)
        # The connection may be shared by the event loop and a helper thread (the manual
        # clock's tick, tests' socket servers); a re-entrant lock keeps statements whole.
        self._lock = threading.RLock()
        self._depth = 0
        self._on_commit = []
        # Group commit (enable_group_commit): the thread whose writes share a transaction,
        # how it arranges the commit, whether a group is open, and who waits for it.
        self._group_thread: int | None = None
        self._schedule: Callable[[Callable[[], None]], object] | None = None
        self._group = False
        self._group_waiters: list[CommitCallback] = []
        self._group_on_commit: list[Callable[[], None]] = []

    # -- statements ---------------------------------------------------------------------------

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        with self._lock:
            if self._held is not None:
                self._release()
            try:
                row: Row | None = self._conn.execute(sql, params).fetchone()
            except sqlite3.Error as error:
                if (failure := unavailable(error)) is not None:
                    raise failure from error
                raise
            return row

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        with self._lock:
            if self._held is not None:
                self._release()
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as error:
                if (failure := unavailable(error)) is not None:
                    raise failure from error
                raise

    def execute(self, sql: str, params: Params = ()) -> int:
        with self._lock:
            if self._held is not None:
                self._release()
            try:
                return self._conn.execute(sql, params).rowcount
            except sqlite3.Error as error:
                if (failure := unavailable(error)) is not None:
                    raise failure from error
                raise

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        with self._lock:
            if self._held is not None:
                self._release()
            try:
                self._conn.executemany(sql, rows)
            except sqlite3.Error as error:
                if (failure := unavailable(error)) is not None:
                    raise failure from error
                raise

    def insert_rows(self, table: str, columns: str, rows: Sequence[Params]) -> None:
        """Insert `rows`, each in the order of `columns` (a comma-separated list)."""
        self.executemany(insert_sql(table, columns), rows)

    @contextmanager
    def transaction(
        self,
        lock_key: str | None = None,
        *,
        batch: bool = False,
        opening: Sequence[Statement] = (),
    ) -> Iterator[list[Row | None]]:
        """`batch`: a large write (a tick's deadlines) that commits on its own rather than
        join a group: in a group each write is a savepoint, and SQLite keeps the original of
        every page a savepoint changes again, which costs a large write more than its COMMIT
        saves."""
        with self._lock:
            if self._depth:
                # Nested use joins the outer transaction.
                self._depth += 1
                try:
                    yield self._first_rows(opening)
                finally:
                    self._depth -= 1
                return
            if self._group_thread is not None and threading.get_ident() == self._group_thread:
                if not batch:
                    with self._in_group():
                        yield self._first_rows(opening)
                    return
                self.commit_group()
            with self._scope(("BEGIN IMMEDIATE",), ("ROLLBACK",), ("COMMIT",)):
                yield self._first_rows(opening)
            if self._checkpointer is not None:
                self._checkpointer.poke()

    @contextmanager
    def _scope(
        self, begin: tuple[str, ...], undo: tuple[str, ...], keep: tuple[str, ...]
    ) -> Iterator[None]:
        """One write: `begin`, then `keep` once its held rows are written, or `undo` (with
        its held rows dropped) when it fails, `keep` included."""
        self._run(begin)
        self._depth = 1
        try:
            yield
            self._release()
            self._run(keep)
        except BaseException as failure:
            self._drop_held()
            self._undo(undo, failure)
            if isinstance(failure, sqlite3.Error) and (refusal := unavailable(failure)):
                raise refusal from failure
            raise
        finally:
            self._depth = 0
            on_commit = self._take_on_commit()  # kept only when the write is
        if self._group:
            self._group_on_commit.extend(on_commit)
        else:
            run_callbacks(on_commit)

    def _run(self, statements: tuple[str, ...]) -> None:
        try:
            for sql in statements:
                self._conn.execute(sql)
        except sqlite3.Error as error:
            if (failure := unavailable(error)) is not None:
                raise failure from error
            raise

    def _undo(self, undo: tuple[str, ...], failure: BaseException) -> None:
        """Roll back a failed write. SQLite may have rolled back the whole transaction
        itself (it does on a full disk or an I/O error): then a group's earlier writes are
        gone too, and the group ends now, failed, rather than commit what came after."""
        if self._conn.in_transaction:
            self._run(undo)
        elif self._group:
            refusal = unavailable(failure) if isinstance(failure, sqlite3.Error) else None
            self._end_group(refusal or failure)

    # -- group commit ---------------------------------------------------------------------------

    def enable_group_commit(self, schedule: Callable[[Callable[[], None]], object]) -> None:
        """Let the calling thread's writes share transactions: each write is a savepoint of
        the open group, and `schedule(commit_group)` is asked, when a group opens, to commit
        it once the caller has run everything else that was ready (the server passes its
        event loop's `call_soon`). A COMMIT writes every page its transaction dirtied to the
        WAL; writes that arrive together dirty many of the same pages, so they share one.
        Nothing may be answered before its write is committed: callers wait with
        `after_commit` while `group_open`. Other threads' writes wait for the group."""
        self._group_thread = threading.get_ident()
        self._schedule = schedule

    def disable_group_commit(self) -> None:
        self.commit_group()
        self._group_thread = self._schedule = None

    @property
    def group_open(self) -> bool:
        return self._group

    def after_commit(self, callback: CommitCallback) -> None:
        if self._group:
            self._group_waiters.append(callback)
        else:
            callback(None)

    @contextmanager
    def _in_group(self) -> Iterator[None]:
        """One write of the group: a savepoint, rolled back alone when the write fails."""
        if not self._group:
            assert self._schedule is not None
            self._run(("BEGIN IMMEDIATE",))
            self._lock.acquire()  # held until the group commits: other threads wait for it
            self._group = True
            self._schedule(self.commit_group)
        with self._scope(
            ("SAVEPOINT write",), ("ROLLBACK TO write", "RELEASE write"), ("RELEASE write",)
        ):
            yield

    def commit_group(self) -> None:
        """Commit the open group (if any) and tell everyone waiting for it how it went."""
        with self._lock:
            if not self._group:
                return
            failure: BaseException | None = None
            try:
                self._conn.execute("COMMIT")
            except BaseException as error:  # a full disk, an I/O error: nothing was kept
                refusal = unavailable(error) if isinstance(error, sqlite3.Error) else None
                failure = refusal or error
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            ended = self._close_group()
        self._tell(ended, failure)

    def _end_group(self, failure: BaseException) -> None:
        """End the group whose transaction SQLite has rolled back, and tell its waiters."""
        self._tell(self._close_group(), failure)

    def _close_group(self) -> tuple[list[CommitCallback], list[Callable[[], None]]]:
        """Mark the group over and release its hold on the lock; its waiters and its
        writes' commit callbacks, to be told once the lock is no longer needed."""
        ended = (self._group_waiters, self._group_on_commit)
        self._group_waiters, self._group_on_commit = [], []
        self._group = False
        self._lock.release()  # the group's own hold
        return ended

    def _tell(
        self,
        ended: tuple[list[CommitCallback], list[Callable[[], None]]],
        failure: BaseException | None,
    ) -> None:
        waiters, on_commit = ended
        if failure is None:
            run_callbacks(on_commit)
            if self._checkpointer is not None:
                self._checkpointer.poke()
        for waiter in waiters:
            waiter(failure)

    def copy_in_memory(self) -> SQLiteDatabase:
        """A new in-memory database holding a copy of this one (SQLite's online backup). A
        migrated schema copies in well under a millisecond where migrating takes ~10 ms: the
        test kit gives every test its own database this way."""
        copy = SQLiteDatabase(":memory:")
        with self._lock:
            self._conn.backup(copy._conn)
        return copy

    # -- health ---------------------------------------------------------------------------------

    def probe(self) -> Outage | None:
        """None when the file can be read; else why not and since when (now, epoch ms). It
        reads through a connection of its own, so it never waits for the writer's lock; a
        file that reads but cannot be written shows in the writes that fail (503s)."""
        if self._path == ":memory:":
            return None
        try:
            conn = sqlite3.connect(f"{Path(self._path).resolve().as_uri()}?mode=ro", uri=True)
            try:
                conn.execute("SELECT 1 FROM meta LIMIT 1").fetchall()
            finally:
                conn.close()
        except sqlite3.Error as error:
            return (str(error), time.time_ns() // 1_000_000)
        return None

    def close(self) -> None:
        # Only the group's own thread can commit it (it holds the lock); from elsewhere the
        # open group is rolled back with the connection, and none of it was answered.
        if threading.get_ident() == self._group_thread:
            self.commit_group()
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._conn.close()
