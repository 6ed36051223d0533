"""Connections to SQLite and PostgreSQL behind one small interface.

The Store writes portable SQL with `?` placeholders; the PostgreSQL connection rewrites them
to `%s` once per statement text. Reads run outside transactions (autocommit); writes run in
`transaction(lock_key)`, which on SQLite is `BEGIN IMMEDIATE` (one writer per database file)
and on PostgreSQL a transaction holding an advisory lock on `lock_key` (one writer per
workspace, across every process that shares the database).
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from switchboard.storage.checkpointer import Checkpointer

Row = tuple[Any, ...]
Params = Sequence[Any]
# Told, once the transaction that wrote something is over, whether it failed (None: committed).
CommitCallback = Callable[[BaseException | None], None]


class Held(Protocol):
    """Writes a transaction holds back (see `HeldRows`): the connection flushes them before
    its next other statement or the commit, and discards them on a rollback."""

    def flush(self) -> None: ...
    def discard(self) -> None: ...


class Database(Protocol):
    """What the Store needs from a connection."""

    dialect: str

    @property
    def in_transaction(self) -> bool: ...
    @property
    def group_open(self) -> bool: ...
    def hold(self, held: Held) -> None: ...
    @property
    def pipelined(self) -> bool: ...
    def send_held(self) -> None: ...
    def after_commit(self, callback: CommitCallback) -> None: ...
    def when_committed(self, callback: Callable[[], None]) -> None: ...
    def enable_group_commit(self, schedule: Callable[[Callable[[], None]], object]) -> None: ...
    def disable_group_commit(self) -> None: ...

    def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...
    def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...
    def execute(self, sql: str, params: Params = ()) -> int: ...
    def executemany(self, sql: str, rows: Sequence[Params]) -> None: ...
    def insert_rows(self, table: str, columns: str, rows: Sequence[Params]) -> None: ...
    def transaction(self, lock_key: str | None = None, *, alone: bool = False) -> Any: ...
    def close(self) -> None: ...


# From how many rows PostgreSQL's insert_rows streams them with COPY rather than INSERTs.
COPY_FROM = 16


def _run(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        callback()


@functools.cache
def _insert_sql(table: str, columns: str) -> str:
    marks = ", ".join("?" * (columns.count(",") + 1))
    return f"INSERT INTO {table} ({columns}) VALUES ({marks})"


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


class _ConnectionBase:
    """What both connections share: the held-writes hook (`hold` registers writes to flush
    before the next statement; every statement method calls `_release` under the connection
    lock), and the defaults of a connection that commits each write at once."""

    _depth: int
    _lock: threading.RLock
    _held: Held | None = None
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

    def _take_on_commit(self) -> list[Callable[[], None]]:
        callbacks, self._on_commit = self._on_commit, []
        return callbacks

    def enable_group_commit(self, schedule: Callable[[Callable[[], None]], object]) -> None:
        """Only SQLite groups commits (see SQLiteDatabase). A PostgreSQL write takes its
        workspace's lock across processes; a group holding several could deadlock."""

    def disable_group_commit(self) -> None:
        pass

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


class SQLiteDatabase(_ConnectionBase):
    """One SQLite connection in WAL mode; the transaction lock is the file's write lock."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN ourselves, reads autocommit.
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout=10000")
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

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        with self._lock:
            if self._held is not None:
                self._release()
            row: Row | None = self._conn.execute(sql, params).fetchone()
            return row

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        with self._lock:
            if self._held is not None:
                self._release()
            return self._conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Params = ()) -> int:
        with self._lock:
            if self._held is not None:
                self._release()
            return self._conn.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        with self._lock:
            if self._held is not None:
                self._release()
            self._conn.executemany(sql, rows)

    def insert_rows(self, table: str, columns: str, rows: Sequence[Params]) -> None:
        """Insert `rows`, each in the order of `columns` (a comma-separated list)."""
        self.executemany(_insert_sql(table, columns), rows)

    @contextmanager
    def transaction(self, lock_key: str | None = None, *, alone: bool = False) -> Iterator[None]:
        """`alone`: a large write (a tick's batch) that commits on its own rather than join
        a group: in a group each write is a savepoint, and SQLite keeps the original of
        every page a savepoint changes again, which costs a large write more than its COMMIT
        saves."""
        with self._lock:
            if self._depth:
                # Nested use joins the outer transaction.
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            if self._group_thread is not None and threading.get_ident() == self._group_thread:
                if not alone:
                    with self._in_group():
                        yield
                    return
                self.commit_group()
            with self._scope(("BEGIN IMMEDIATE",), ("ROLLBACK",), ("COMMIT",)):
                yield
            if self._checkpointer is not None:
                self._checkpointer.poke()

    @contextmanager
    def _scope(
        self, begin: tuple[str, ...], undo: tuple[str, ...], keep: tuple[str, ...]
    ) -> Iterator[None]:
        """One write: `begin`, then `keep` once its held rows are written, or `undo` (with
        its held rows dropped) when it fails."""
        for sql in begin:
            self._conn.execute(sql)
        self._depth = 1
        try:
            yield
            self._release()
        except BaseException:
            self._drop_held()
            for sql in undo:
                self._conn.execute(sql)
            raise
        else:
            for sql in keep:
                self._conn.execute(sql)
        finally:
            self._depth = 0
            on_commit = self._take_on_commit()  # kept only when the write is
        if self._group:
            self._group_on_commit.extend(on_commit)
        else:
            _run(on_commit)

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
            self._conn.execute("BEGIN IMMEDIATE")
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
            waiters, self._group_waiters = self._group_waiters, []
            on_commit, self._group_on_commit = self._group_on_commit, []
            failure: BaseException | None = None
            try:
                self._conn.execute("COMMIT")
            except BaseException as error:  # a full disk, an I/O error: nothing was kept
                failure = error
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            finally:
                self._group = False
                self._lock.release()  # the group's own hold
        if failure is None:
            _run(on_commit)
            if self._checkpointer is not None:
                self._checkpointer.poke()
        for waiter in waiters:
            waiter(failure)

    def close(self) -> None:
        # Only the group's own thread can commit it (it holds the lock); from elsewhere the
        # open group is rolled back with the connection, and none of it was answered.
        if threading.get_ident() == self._group_thread:
            self.commit_group()
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._conn.close()


class PostgresDatabase(_ConnectionBase):
    """One psycopg connection; writes take a per-key advisory transaction lock.

    A large write (`transaction(alone=True)`: a tick's batch) runs in pipeline mode: its
    statements are sent without waiting for their results, which the commit collects, so
    PostgreSQL stores what the write has sent (`send_held`) while the engine works out the
    rest. Reads still wait for their rows, and `execute` for its count."""

    dialect = "postgres"

    def __init__(self, url: str, schema: str | None = None) -> None:
        import psycopg  # Imported here so SQLite users never load it.

        self._conn = psycopg.connect(url, autocommit=True)
        if schema:
            # CREATE SCHEMA IF NOT EXISTS is not safe against itself: two processes creating
            # the schema at once collide on pg_namespace's unique index. The lock serialises them.
            with self._conn.transaction():
                self._conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ("switchboard:schema",)
                )
                self._conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            self._conn.execute(f'SET search_path TO "{schema}"')
        self._lock = threading.RLock()
        self._depth = 0
        self._on_commit = []
        self._sql_cache: dict[str, str] = {}

    def _sql(self, sql: str) -> str:
        cached = self._sql_cache.get(sql)
        if cached is None:
            cached = sql.replace("%", "%%").replace("?", "%s")
            self._sql_cache[sql] = cached
        return cached

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        with self._lock:
            if self._held is not None:
                self._release()
            return self._conn.execute(self._sql(sql), params).fetchone()

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        with self._lock:
            if self._held is not None:
                self._release()
            return self._conn.execute(self._sql(sql), params).fetchall()

    def execute(self, sql: str, params: Params = ()) -> int:
        with self._lock:
            if self._held is not None:
                self._release()
            if not self.pipelined:
                return self._conn.execute(self._sql(sql), params).rowcount
            with self._conn.pipeline():  # leaving a nested block waits for the count
                cursor = self._conn.execute(self._sql(sql), params)
            return cursor.rowcount

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        with self._lock:
            if self._held is not None:
                self._release()
            with self._conn.cursor() as cur:
                cur.executemany(self._sql(sql), rows)

    def insert_rows(self, table: str, columns: str, rows: Sequence[Params]) -> None:
        """Insert `rows`, each in the order of `columns` (a comma-separated list). Many rows
        go through COPY: a burst of timeouts writes twenty thousand event rows, and PostgreSQL
        takes them as one stream faster than as many INSERT statements. A pipelined write
        cannot COPY; its INSERTs do not wait for one another."""
        if len(rows) < COPY_FROM or self.pipelined:
            self.executemany(_insert_sql(table, columns), rows)
            return
        with self._lock:
            if self._held is not None:
                self._release()
            with (
                self._conn.cursor() as cur,
                cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)

    @contextmanager
    def transaction(self, lock_key: str | None = None, *, alone: bool = False) -> Iterator[None]:
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            try:
                with contextlib.ExitStack() as pipeline:
                    if alone:
                        pipeline.enter_context(self._conn.pipeline())
                        self.pipelined = True
                    with self._conn.transaction():
                        if lock_key is not None:
                            self._conn.execute(
                                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                                (lock_key,),
                            )
                        yield
                        self._release()
            except BaseException:
                self._drop_held()
                raise
            finally:
                self._depth = 0
                self.pipelined = False
                on_commit = self._take_on_commit()  # kept only when the write is
            _run(on_commit)

    def close(self) -> None:
        self._conn.close()


def connect(url: str, *, schema: str | None = None) -> Database:
    """A Database for `sqlite:///path`, `sqlite://:memory:` or `postgresql://…`."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(url[len("sqlite://") :])
        if path.startswith("/") and not path.startswith("//"):
            path = path[1:] or ":memory:"  # sqlite:///rel.db → rel.db
        elif path.startswith("//"):
            path = path[1:]  # sqlite:////abs/path.db → /abs/path.db
        return SQLiteDatabase(path or ":memory:")
    if parsed.scheme in ("postgres", "postgresql"):
        return PostgresDatabase(url, schema=schema)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://…")
