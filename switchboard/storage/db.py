"""Connections to SQLite and PostgreSQL behind one small interface.

The Store writes portable SQL with `?` placeholders; the PostgreSQL connection rewrites them
to `%s` once per statement text. Reads run outside transactions (autocommit); writes run in
`transaction(lock_key)`, which on SQLite is `BEGIN IMMEDIATE` (one writer per database file)
and on PostgreSQL a transaction holding an advisory lock on `lock_key` (one writer per
workspace, across every process that shares the database).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

Row = tuple[Any, ...]
Params = Sequence[Any]


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
    def hold(self, held: Held) -> None: ...

    def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...
    def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...
    def execute(self, sql: str, params: Params = ()) -> int: ...
    def executemany(self, sql: str, rows: Sequence[Params]) -> None: ...
    def transaction(self, lock_key: str | None = None) -> Any: ...
    def close(self) -> None: ...


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


class Checkpointer:
    """Copies the WAL back into the database file from a thread of its own.

    SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold, so the
    request that happens to commit then waits for the copy and its fsync. Here each commit
    only pokes this thread, which runs a PASSIVE checkpoint on its own connection (it never
    blocks the writer, and sqlite3 releases the GIL while it works). The thread ends after
    a while without commits and the next commit starts it again, so an idle or forgotten
    connection keeps no thread.

    It waits for a lull (no commit for QUIET_SECONDS, and no write transaction open) or for
    MAX_COMMITS commits, whichever comes first: a page written many times between checkpoints
    is copied once, and a burst (a tick's long transactions of a thousand deadlines each)
    does not share its core with the copy of its own WAL.
    """

    IDLE_SECONDS = 5.0
    QUIET_SECONDS = 0.3
    MAX_COMMITS = 300

    def __init__(self, path: str, writing: Callable[[], bool]) -> None:
        self._path = path
        self._writing = writing  # whether the writer has a transaction open
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._commits = 0  # since the last checkpoint (approximate: not locked)

    def poke(self) -> None:
        self._commits += 1
        self._wake.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._closed:
                    self._thread = threading.Thread(
                        target=self._run, name="sqlite-checkpoint", daemon=True
                    )
                    self._thread.start()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=1000")
            while self._wait():
                if not self._wait_for_lull():
                    return
                self._commits = 0
                # On failure the writer's own backstop checkpoint still bounds the WAL.
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()

    def _wait_for_lull(self) -> bool:
        """Return once commits pause or enough have piled up; False when closed."""
        while self._commits < self.MAX_COMMITS:
            if not self._wake.wait(self.QUIET_SECONDS) and not self._writing():
                break
            self._wake.clear()
            if self._closed:
                return False
        return not self._closed

    def _wait(self) -> bool:
        """Wait for a commit; False when closed or idle (the thread then ends)."""
        while True:
            poked = self._wake.wait(self.IDLE_SECONDS)
            with self._lock:
                if self._closed:
                    self._thread = None
                    return False
                if poked:
                    self._wake.clear()
                    return True
                if not self._wake.is_set():
                    self._thread = None
                    return False


class _Holding:
    """The held-writes hook both connections share: `hold` registers writes to flush before
    the next statement; every statement method calls `_release` under the connection lock."""

    _depth: int
    _held: Held | None = None

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def hold(self, held: Held) -> None:
        self._held = held

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.flush()

    def _drop_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.discard()


class SQLiteDatabase(_Holding):
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
            self._checkpointer = Checkpointer(path, lambda: self._depth > 0)
        # The connection may be shared by the event loop and a helper thread (the manual
        # clock's tick, tests' socket servers); a re-entrant lock keeps statements whole.
        self._lock = threading.RLock()
        self._depth = 0

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

    @contextmanager
    def transaction(self, lock_key: str | None = None) -> Iterator[None]:
        with self._lock:
            if self._depth:
                # Nested use joins the outer transaction.
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
                self._release()
            except BaseException:
                self._drop_held()
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
                if self._checkpointer is not None:
                    self._checkpointer.poke()
            finally:
                self._depth = 0

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._conn.close()


class PostgresDatabase(_Holding):
    """One psycopg connection; writes take a per-key advisory transaction lock."""

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
            return self._conn.execute(self._sql(sql), params).rowcount

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        with self._lock:
            if self._held is not None:
                self._release()
            with self._conn.cursor() as cur:
                cur.executemany(self._sql(sql), rows)

    @contextmanager
    def transaction(self, lock_key: str | None = None) -> Iterator[None]:
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
                with self._conn.transaction():
                    if lock_key is not None:
                        self._conn.execute(
                            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock_key,)
                        )
                    yield
                    self._release()
            except BaseException:
                self._drop_held()
                raise
            finally:
                self._depth = 0

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
