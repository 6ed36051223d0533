"""PostgreSQL: one psycopg connection; a write holds an advisory lock on its `lock_key`.

The lock is a transaction-level advisory lock, so one writer per workspace runs at a time
across every process sharing the database, and writes to different workspaces run at once.
Many new rows stream through COPY outside a write; a write is pipelined.
Statements arrive with `?` placeholders and are rewritten to psycopg's `%s` once per text.

A lost connection (a database restart, a cut network) is replaced: see `PostgresDatabase`.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus

from switchboard.errors import DatabaseUnavailable
from switchboard.storage.database import (
    ConnectionBase,
    Outage,
    Params,
    Row,
    Statement,
    run_callbacks,
)
from switchboard.storage.sql import insert_sql

log = logging.getLogger("switchboard.storage")

# From how many rows insert_rows streams them with COPY rather than INSERTs.
COPY_FROM = 16

# Connection settings unless the URL gives its own. Without them a partitioned network holds
# a statement (and the event loop running it) for the kernel's retransmission timeout, about
# fifteen minutes: here a connection attempt gives up after 3 s, and a connection whose sent
# bytes go unacknowledged for 5 s, or whose idle peer stops answering keepalives, is dropped.
CONNECTION_OPTIONS = {
    "connect_timeout": "3",
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "2",
    "keepalives_count": "3",
    "tcp_user_timeout": "5000",
}

# Backoff between attempts to replace a lost connection: the first soon after the loss, then
# doubling to at most a quarter of a second, so service returns within about that of the
# database. An attempt against a database that is down is refused at once and costs nothing.
RECONNECT_FIRST_SECONDS = 0.05
RECONNECT_MAX_SECONDS = 0.25

T = TypeVar("T")


def open_connection(url: str) -> psycopg.Connection[Any]:
    """An autocommit connection to `url` with `CONNECTION_OPTIONS` the URL does not set."""
    given = conninfo_to_dict(url)
    options = {k: v for k, v in CONNECTION_OPTIONS.items() if k not in given}
    return psycopg.connect(make_conninfo(url, **options), autocommit=True)


def events_channel(schema: str | None) -> str:
    """The NOTIFY channel of a schema's committed events. Channels are per database, not per
    schema: servers on other schemas of the same database must not wake each other."""
    return f"switchboard_events:{schema or 'public'}"[:63]


def is_lost(conn: psycopg.Connection[Any]) -> bool:
    """Whether `conn` is gone for good (a statement failed because the session ended)."""
    return conn.closed or conn.broken


class PostgresDatabase(ConnectionBase):
    """One psycopg connection; writes take a per-key advisory transaction lock.

    Every write runs in pipeline mode, because each wait for the database is a round trip
    (on another host, a millisecond or more) during which the event loop waits too:
    - BEGIN, the lock and the write's `opening` statements (the workspace's change number,
      the workspace itself) go together, one round trip;
    - held rows, events and other `executemany` rows are sent without waiting for their
      results, and go with the next statement that waits, or with the COMMIT, which
      collects them (so a write's tail is one round trip);
    - reads still wait for their rows, and `execute` for its count: a statement that can
      be refused (a duplicate name) fails where it runs.
    In a large write (a tick's deadlines) `send_held` sends the rows so far, so PostgreSQL
    stores them while the engine works out the rest.

    Outages: every failure of the database (psycopg's OperationalError: a lost connection, a
    restart, a full disk, a deadlock) is raised as `DatabaseUnavailable` (a 503), its
    transaction rolled back. A connection found lost is replaced: a read, or a write that has
    not yet begun, reconnects once at once and goes on, so a restart the process slept through
    costs nothing; otherwise a thread reconnects with backoff while every statement fails at
    once. Nothing of the old session is assumed to survive: advisory locks are transaction
    locks taken anew by each write, the pipeline and the held rows belong to the write that
    failed, and psycopg prepares statements per connection."""

    dialect = "postgres"

    def __init__(self, url: str, schema: str | None = None) -> None:
        self._url = url
        self._schema = schema
        self.events_channel = events_channel(schema)
        self.url = url
        self._lock = threading.RLock()
        self._depth = 0
        self._on_commit = []
        self._sql_cache: dict[str, str] = {}
        # The write in progress's pipeline, and the scope that leaves it.
        self._pipeline: psycopg.Pipeline | None = None
        self._pipeline_scope: contextlib.ExitStack | None = None
        # Why and since when (wall clock, ms) the connection is missing; None while it works.
        self._lost: Outage | None = None
        self._reconnecting = False
        self._closing = threading.Event()
        self._conn: psycopg.Connection[Any] | None = self._open(create_schema=True)
        # The health probe's own connection (see `probe`), opened on first use.
        self._probe_lock = threading.Lock()
        self._probe_conn: psycopg.Connection[Any] | None = None

    def _open(self, *, create_schema: bool = False) -> psycopg.Connection[Any]:
        conn = open_connection(self._url)
        try:
            if self._schema and create_schema:
                # CREATE SCHEMA IF NOT EXISTS is not safe against itself: two processes
                # creating the schema at once collide on pg_namespace's unique index. The
                # lock serialises them.
                with conn.transaction():
                    conn.execute(
                        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                        ("switchboard:schema",),
                    )
                    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
            if self._schema:
                conn.execute(f'SET search_path TO "{self._schema}"')
        except BaseException:
            conn.close()
            raise
        return conn

    def _sql(self, sql: str) -> str:
        cached = self._sql_cache.get(sql)
        if cached is None:
            cached = sql.replace("%", "%%").replace("?", "%s")
            self._sql_cache[sql] = cached
        return cached

    # -- statements ---------------------------------------------------------------------------

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        with self._lock:
            if self._held is not None:
                self._release()
            return self._read(lambda conn: conn.execute(self._sql(sql), params).fetchone())

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        with self._lock:
            if self._held is not None:
                self._release()
            return self._read(lambda conn: conn.execute(self._sql(sql), params).fetchall())

    def execute(self, sql: str, params: Params = ()) -> int:
        with self._lock:
            if self._held is not None:
                self._release()
            conn = self._live()
            try:
                cursor = conn.execute(self._sql(sql), params)
                if self._pipeline is not None:
                    self._pipeline.sync()  # the count, and a refusal, come back here
                return cursor.rowcount
            except psycopg.OperationalError as error:
                raise self._failed(error) from error

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        with self._lock:
            if self._held is not None:
                self._release()
            conn = self._live()
            try:
                with conn.cursor() as cur:
                    cur.executemany(self._sql(sql), rows)
            except psycopg.OperationalError as error:
                raise self._failed(error) from error

    def insert_rows(self, table: str, columns: str, rows: Sequence[Params]) -> None:
        """Insert `rows`, each in the order of `columns` (a comma-separated list). Many rows
        go through COPY: a burst of timeouts writes twenty thousand event rows, and PostgreSQL
        takes them as one stream faster than as many INSERT statements. A pipelined write
        cannot COPY; its INSERTs do not wait for one another."""
        if len(rows) < COPY_FROM or self.pipelined:
            self.executemany(insert_sql(table, columns), rows)
            return
        with self._lock:
            if self._held is not None:
                self._release()
            conn = self._live()
            try:
                with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            except psycopg.OperationalError as error:
                raise self._failed(error) from error

    def _read(self, run: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run a read; outside a write, a connection found lost is replaced once at once
        and the read run again (reading twice changes nothing)."""
        conn = self._live()
        try:
            return run(conn)
        except psycopg.OperationalError as error:
            if self._depth or not self._replace_now(conn, error):
                raise self._failed(error) from error
        try:
            return run(self._live())
        except psycopg.OperationalError as error:
            raise self._failed(error) from error

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def transaction(
        self,
        lock_key: str | None = None,
        *,
        batch: bool = False,
        opening: Sequence[Statement] = (),
    ) -> Iterator[list[Row | None]]:
        """Every write is pipelined (`batch` changes nothing here; see the class docstring).
        BEGIN, COMMIT and ROLLBACK are sent as statements of the pipeline rather than through
        psycopg's `transaction()`, which syncs the pipeline on entry and at each exit: three
        round trips more per write."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._first_rows(opening)
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            committing = False
            try:
                conn, rows = self._begin(lock_key, opening)
                try:
                    yield rows
                    self._release()
                    committing = True
                    conn.execute("COMMIT")
                    self._leave_pipeline()  # sends the write's tail and the COMMIT, waits
                except BaseException:
                    self._abandon(conn)
                    raise
            except psycopg.OperationalError as error:
                self._drop_held()
                raise self._failed(error, committing=committing) from error
            except BaseException:
                self._drop_held()
                raise
            finally:
                self._depth = 0
                on_commit = self._take_on_commit()  # kept only when the write is
            run_callbacks(on_commit)

    def _begin(
        self, lock_key: str | None, opening: Sequence[Statement]
    ) -> tuple[psycopg.Connection[Any], list[Row | None]]:
        """Open the write in pipeline mode; returns the connection and the first row of each
        `opening` statement. BEGIN, the workspace's lock and the opening statements go in one
        round trip. Nothing is written yet, so a connection found lost here is replaced once
        at once and the write begun again."""
        for attempt in (1, 2):
            conn = self._live()
            try:
                pipeline = self._enter_pipeline(conn)
                conn.execute("BEGIN")
                if lock_key is not None:
                    conn.execute(
                        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock_key,)
                    )
                cursors = [conn.execute(self._sql(sql), params) for sql, params in opening]
                pipeline.sync()
                return conn, [cursor.fetchone() for cursor in cursors]
            except psycopg.OperationalError as error:
                self._abandon(conn)
                if attempt == 2 or not self._replace_now(conn, error):
                    raise
            except BaseException:
                self._abandon(conn)
                raise
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _enter_pipeline(self, conn: psycopg.Connection[Any]) -> psycopg.Pipeline:
        scope = contextlib.ExitStack()
        pipeline = scope.enter_context(conn.pipeline())
        self._pipeline, self._pipeline_scope = pipeline, scope
        self.pipelined = True
        return pipeline

    def _leave_pipeline(self) -> None:
        """Leave pipeline mode: send what is queued and wait for every result; a statement
        that failed raises here."""
        scope = self._pipeline_scope
        self._pipeline = self._pipeline_scope = None
        self.pipelined = False
        if scope is not None:
            scope.close()

    def _abandon(self, conn: psycopg.Connection[Any]) -> None:
        """After a write failed: leave pipeline mode, whatever it still holds, and roll back
        what the database still has open (a lost connection has nothing open)."""
        with contextlib.suppress(psycopg.Error):
            self._leave_pipeline()
        if is_lost(conn):
            return
        with contextlib.suppress(psycopg.Error):
            if conn.info.transaction_status != TransactionStatus.IDLE:
                conn.execute("ROLLBACK")

    # -- losing and replacing the connection ---------------------------------------------------

    def _live(self) -> psycopg.Connection[Any]:
        """The connection, or DatabaseUnavailable at once while it is being replaced."""
        conn = self._conn
        if conn is None:
            reason = self._lost[0] if self._lost else "the connection is closed"
            raise DatabaseUnavailable(
                f"The database is unavailable ({reason}); nothing of this request was done."
                " Try again shortly"
            )
        return conn

    def _failed(
        self, error: psycopg.OperationalError, *, committing: bool = False
    ) -> DatabaseUnavailable:
        """The 503 for a statement that failed with `error`; a lost connection is dropped and
        a thread set to replace it."""
        conn = self._conn
        if conn is not None and is_lost(conn):
            self._lose(_reason(error))
        if committing:
            return DatabaseUnavailable(
                f"The database failed while committing ({_reason(error)}); the change may or"
                " may not have been saved: read it back before trying again"
            )
        return DatabaseUnavailable(
            f"The database is unavailable ({_reason(error)}); nothing of this request was"
            " kept. Try again shortly"
        )

    def _replace_now(self, conn: psycopg.Connection[Any], error: BaseException) -> bool:
        """After `error` on `conn`: if the connection was lost, try once, at once, to replace
        it (a restart the process slept through). True when the caller may run again."""
        if not is_lost(conn) or self._conn is not conn:
            return False
        log.warning("the database connection was lost (%s); reconnecting", _reason(error))
        try:
            self._conn = self._open()
        except psycopg.Error as again:
            self._conn = None
            self._lose(_reason(again))
            return False
        return True

    def _lose(self, reason: str) -> None:
        """Drop the connection (called under the lock) and reconnect from a thread."""
        if self._lost is None:
            log.error("the database connection was lost: %s", reason)
            self._lost = (reason, time.time_ns() // 1_000_000)
        self._conn = None
        if not self._reconnecting and not self._closing.is_set():
            self._reconnecting = True
            threading.Thread(
                target=self._reconnect, name="switchboard-reconnect", daemon=True
            ).start()

    def _reconnect(self) -> None:
        """The reconnecting thread: try with backoff until a connection opens or the
        database is closed. Installing the new connection and ending the thread's turn
        happen together under the lock, so a loss noticed right after starts a new turn."""
        delay = RECONNECT_FIRST_SECONDS
        while not self._closing.wait(delay):
            try:
                conn = self._open()
            except Exception as error:  # whatever it is, the thread must go on: nothing else will
                log.debug("reconnecting to the database failed: %s", _reason(error))
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                continue
            with self._lock:
                if self._closing.is_set():
                    conn.close()
                    break
                lost_ms = self._lost[1] if self._lost else time.time_ns() // 1_000_000
                self._conn, self._lost, self._reconnecting = conn, None, False
            lost_for = (time.time_ns() // 1_000_000 - lost_ms) / 1000
            log.warning("the database connection is back after %.1f s", lost_for)
            return
        with self._lock:
            self._reconnecting = False

    def backend_pid(self) -> int | None:
        """The server process of this connection (the sender PostgreSQL names in each
        NOTIFY), or None while there is no connection."""
        conn = self._conn
        return None if conn is None else conn.info.backend_pid

    # -- health ---------------------------------------------------------------------------------

    def probe(self) -> Outage | None:
        """None when the database answers; else why not and since when (epoch ms). Never
        waits on the connection requests use: a lost connection is known at once, an idle
        one the server has closed is noticed without blocking, and the round trip runs on a
        connection of the probe's own, so a call stuck on a silent network holds up only
        the caller, which bounds its wait (see api/admin.py). One probe at a time."""
        self._notice_closed_idle_connection()
        if self._lost is not None:
            return self._lost
        if not self._probe_lock.acquire(blocking=False):
            return ("the previous health probe has not finished", time.time_ns() // 1_000_000)
        try:
            return self._round_trip()
        finally:
            self._probe_lock.release()

    def _round_trip(self) -> Outage | None:
        """SELECT 1 on the probe's connection; one found lost (the outage that just ended
        took it) is replaced once at once."""
        for attempt in (1, 2):
            try:
                if self._probe_conn is None:
                    self._probe_conn = open_connection(self._url)
                self._probe_conn.execute("SELECT 1")
                return None
            except psycopg.Error as error:
                lost = self._probe_conn is not None and is_lost(self._probe_conn)
                if lost or self._probe_conn is None:
                    self._probe_conn = None
                if attempt == 2 or not lost:
                    return (_reason(error), time.time_ns() // 1_000_000)
        return None

    def _notice_closed_idle_connection(self) -> None:
        """An idle connection has nothing to read unless the server ended it (a restart sends
        its notice and closes): then a statement fails at once and the connection is replaced
        from a thread. A busy connection is left to its user."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            conn = self._conn
            if conn is None or self._depth:
                return
            readable, _, _ = select.select([conn.fileno()], [], [], 0)
            if readable:
                try:
                    conn.execute("SELECT 1")
                except psycopg.OperationalError as error:
                    if is_lost(conn):
                        self._lose(_reason(error))
        except (OSError, ValueError, psycopg.Error):
            pass
        finally:
            self._lock.release()

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        with self._probe_lock:
            if self._probe_conn is not None:
                self._probe_conn.close()
                self._probe_conn = None


def _reason(error: BaseException) -> str:
    """The first line of a driver's message: libpq's run to several lines of advice."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
