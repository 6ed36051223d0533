"""PostgreSQL: one psycopg connection; a write holds an advisory lock on its `lock_key`.

The lock is a transaction-level advisory lock, so one writer per workspace runs at a time
across every process sharing the database, and writes to different workspaces run at once.
Many new rows stream through COPY outside a write; a write is pipelined.
Statements arrive with `?` placeholders and are rewritten to psycopg's `%s` once per text.

A lost connection (a database restart, a cut network) is replaced: see `PostgresDatabase`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus

from switchboard.errors import DatabaseUnavailable
from switchboard.storage.database import (
    CommitCallback,
    ConnectionBase,
    Outage,
    Params,
    Row,
    Statement,
    run_callbacks,
)
from switchboard.storage.pipeline_sender import PipelineSender
from switchboard.storage.readers import ReaderConnections
from switchboard.storage.sql import insert_sql

log = logging.getLogger("switchboard.storage")

# From how many rows insert_rows streams them with COPY rather than INSERTs.
COPY_FROM = 16
# Other processes' push loops listen (storage/event_listener.py); the payload names the
# workspace whose events were committed.
_NOTIFY = "SELECT pg_notify(?, ?)"

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


@dataclass(eq=False)
class _Group:
    """Writes to one workspace sharing a transaction on the writing connection."""

    key: str
    # The rows the opening's statements returned, by statement and parameters.
    rows: dict[tuple[str, tuple[Any, ...]], Row | None]
    # The statement that takes the workspace's next change number, and the last one taken.
    counter: tuple[str, tuple[Any, ...]] | None
    seq: int
    # Whether the opening's change number is still the first write's to take.
    fresh: bool = True
    committing: bool = False
    told: bool = False
    waiters: list[CommitCallback] = field(default_factory=list)
    on_commit: list[Callable[[], None]] = field(default_factory=list)
    # Workspaces whose committed events other processes are told of, with the COMMIT.
    notices: set[str] = field(default_factory=set)


@dataclass(eq=False)
class _Write:
    """One write of a group, as far as the connection has seen it. Its statements whose place
    does not matter (`executemany_at_end`) and its change number's UPDATE wait in `later`,
    and its held rows in the connection, until its end or until a statement must go before
    them: so a write the engine refuses has usually sent nothing, and needs no savepoint to
    undo. The savepoint is sent before the write's first change that goes out early."""

    later: list[Callable[[], object]] = field(default_factory=list)
    notices: set[str] = field(default_factory=set)
    savepoint: bool = False
    # Sending what waited: the held rows' own statements go straight out.
    sending: bool = False


def _new_group(key: str, opening: Sequence[Statement], rows: list[Row | None]) -> _Group:
    """The group opened by `opening` (the change number first), which returned `rows`."""
    first = opening[0] if opening else None
    return _Group(
        key,
        rows={(sql, tuple(params)): row for (sql, params), row in zip(opening, rows, strict=True)},
        counter=None if first is None else (first[0], tuple(first[1])),
        seq=int(rows[0][0]) if rows and rows[0] else 0,
    )


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
        self._conn: psycopg.Connection[Any] | None = self._open_writer(create_schema=True)
        # The thread running the write in progress (`_depth`).
        self._owner: int | None = None
        # Rows read ahead inside the write in progress (`prefetch`).
        self._prefetched: dict[tuple[str, tuple[Any, ...]], list[Row]] = {}
        # The group's write in progress (`_in_group`), and the workspaces a write outside the
        # groups announces with its COMMIT.
        self._write: _Write | None = None
        self._notices: set[str] = set()
        # A write's rows go through libpq itself (pipeline_sender.py).
        self._sender = PipelineSender()
        # Statements outside a write, each thread on a connection of its own.
        self._readers = ReaderConnections(self._open)
        # Groups of writes (prepare_write): the event loop's thread; the open group; the
        # workspace whose group is being opened and the group being committed, from a
        # thread; who waits for the opening, and who for the connection to be free.
        self._group_thread: int | None = None
        self._group: _Group | None = None
        self._opening: str | None = None
        self._committing: _Group | None = None
        self._joiners: list[asyncio.Future[None]] = []
        self._idle: list[tuple[str, Sequence[Statement], asyncio.Future[None]]] = []
        self._group_free = threading.Condition(self._lock)
        self._outside_waiting = 0  # other threads' writes waiting for a group to end
        self._pool: ThreadPoolExecutor | None = None
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

    def _open_writer(self, *, create_schema: bool = False) -> psycopg.Connection[Any]:
        """The writing connection. psycopg prepares nothing on it: its prepared-statement
        cache answers a ROLLBACK (to a savepoint too) with DEALLOCATE ALL, which would take
        the statements PipelineSender prepared with it; the write's rows go through those."""
        conn = self._open(create_schema=create_schema)
        conn.prepare_threshold = None
        return conn

    def _sql(self, sql: str) -> str:
        cached = self._sql_cache.get(sql)
        if cached is None:
            cached = sql.replace("%", "%%").replace("?", "%s")
            self._sql_cache[sql] = cached
        return cached

    # -- statements ---------------------------------------------------------------------------

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        if not self._writing_here():
            return self._outside(lambda conn: conn.execute(self._sql(sql), params).fetchone())
        with self._lock:
            self._before_statement(changes=False)
            return self._read(lambda conn: conn.execute(self._sql(sql), params).fetchone())

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        if not self._writing_here():
            return self._outside(lambda conn: conn.execute(self._sql(sql), params).fetchall())
        if self._prefetched and self._held is None:
            found = self._prefetched.pop((sql, tuple(params)), None)
            if found is not None:
                return found
        with self._lock:
            self._before_statement(changes=False)
            return self._read(lambda conn: conn.execute(self._sql(sql), params).fetchall())

    def execute(self, sql: str, params: Params = ()) -> int:
        if not self._writing_here():
            return self._outside(
                lambda conn: conn.execute(self._sql(sql), params).rowcount, again=False
            )
        self._prefetched.clear()  # a change: what was read ahead may no longer hold
        with self._in_the_write() as conn:
            cursor = conn.execute(self._sql(sql), params)
            if self._pipeline is not None:
                self._pipeline.sync()  # the count, and a refusal, come back here
            self._note_workspace_change(sql)
            return cursor.rowcount

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        if not self._writing_here():
            self._outside(lambda conn: _executemany(conn, self._sql(sql), rows), again=False)
            return
        self._prefetched.clear()
        with self._in_the_write() as conn:
            self._send_rows(conn, sql, rows)
            self._note_workspace_change(sql)

    def send_held(self) -> None:
        if not self._writing_here():
            super().send_held()
            return
        with self._in_the_write() as conn:  # sends the held rows first
            if self._pipeline is not None:
                _push(conn)

    def executemany_at_end(self, sql: str, rows: Sequence[Params]) -> None:
        """`executemany`; in a write of a group, sent with the write's end (see `_Write`)."""
        write = self._write
        if write is None or write.sending or not self._writing_here():
            self.executemany(sql, rows)
            return
        write.later.append(lambda: self._send_rows(self._live(), sql, rows))

    def announce(self, workspace_sids: Iterable[str]) -> None:
        """NOTIFY the events channel of each workspace with the write's COMMIT (once per
        group: a repeated notification is delivered once anyway); outside a write, now."""
        sids = set(workspace_sids)
        if not sids:
            return
        write = self._write
        if write is not None and self._writing_here():
            write.notices |= sids
        elif self._depth and self._owner == threading.get_ident():
            self._notices |= sids
        else:
            self.executemany(_NOTIFY, [(self.events_channel, sid) for sid in sorted(sids)])

    def insert_rows(self, table: str, columns: str, rows: Sequence[Params]) -> None:
        """Insert `rows`, each in the order of `columns` (a comma-separated list). Many rows
        go through COPY: a burst of timeouts writes twenty thousand event rows, and PostgreSQL
        takes them as one stream faster than as many INSERT statements. A pipelined write
        cannot COPY; its INSERTs do not wait for one another."""
        if len(rows) < COPY_FROM or (self.pipelined and self._writing_here()):
            self.executemany(insert_sql(table, columns), rows)
            return
        if not self._writing_here():
            self._outside(lambda conn: _copy(conn, table, columns, rows), again=False)
            return
        with self._in_the_write() as conn:
            _copy(conn, table, columns, rows)

    def prefetch(self, statements: Sequence[Statement]) -> None:
        """Inside a write: send every statement, wait once for all their rows, and answer
        the write's next `fetchall` of each (same text, same parameters) from them, until
        the write changes something. A routing index catching up with another process's
        writes reads ten tables: one round trip rather than ten, inside the lock."""
        if not self._writing_here() or self._pipeline is None:
            return
        pipeline = self._pipeline
        with self._in_the_write(changes=False) as conn:
            sent = [
                ((sql, tuple(params)), conn.execute(self._sql(sql), params))
                for sql, params in statements
            ]
            pipeline.sync()
            self._prefetched = {key: cursor.fetchall() for key, cursor in sent}

    @contextmanager
    def _in_the_write(self, *, changes: bool = True) -> Iterator[psycopg.Connection[Any]]:
        """The writing connection, for a statement of the write in progress (`changes`:
        whether the statement changes something): what the write holds back goes first (the
        statement may read it), and a lost connection is the outage it is."""
        with self._lock:
            self._before_statement(changes=changes)
            conn = self._live()
            try:
                yield conn
            except psycopg.OperationalError as error:
                raise self._failed(error) from error

    def _before_statement(self, *, changes: bool) -> None:
        """Before a statement of the write in progress: send what the write holds back. In
        a group's write, open its savepoint first when a change is about to go out, so that
        the write can still be undone alone."""
        write = self._write
        if write is None or write.sending:
            if self._held is not None:
                self._release()
            return
        waiting = bool(write.later) or self._held is not None
        if (changes or waiting) and not write.savepoint:
            self._live().execute("SAVEPOINT write")
            write.savepoint = True
        if waiting:
            self._send_waiting(write)

    def _send_waiting(self, write: _Write) -> None:
        """Send a group's write's held rows and the statements that waited for its end."""
        write.sending = True
        try:
            self._release()
            later, write.later = write.later, []
            for send in later:
                send()
        finally:
            write.sending = False

    def _send_notices(self, conn: psycopg.Connection[Any], workspace_sids: set[str]) -> None:
        if workspace_sids:
            notices = [(self.events_channel, sid) for sid in sorted(workspace_sids)]
            self._send_rows(conn, _NOTIFY, notices)

    def _send_rows(self, conn: psycopg.Connection[Any], sql: str, rows: Sequence[Params]) -> None:
        """Rows of a statement inside the write: through libpq in pipeline mode (see
        pipeline_sender.py), else through psycopg."""
        pipeline = self._pipeline
        if pipeline is None or not self._sender.send(conn, pipeline, sql, rows):
            _executemany(conn, self._sql(sql), rows)

    def _writing_here(self) -> bool:
        """Whether the calling thread's statements belong to the write on the writing
        connection: the write it runs, or (the event loop's thread) the open group, whose
        writes a read between them must see. Every other statement runs on the calling
        thread's own autocommit connection, and never waits behind a write."""
        me = threading.get_ident()
        if self._depth and self._owner == me:
            return True
        group = self._group
        return group is not None and not group.committing and me == self._group_thread

    def _outside(self, run: Callable[[psycopg.Connection[Any]], T], *, again: bool = True) -> T:
        """A statement outside any write, on the calling thread's own connection; `again`:
        whether it may run a second time on a new connection when it found its own lost (a
        read may; a change might have been made)."""
        if self._lost is not None:
            self._live()  # DatabaseUnavailable at once while the database is away
        return self._readers.read(run, self._unavailable, again=again)

    def _unavailable(self, error: BaseException) -> DatabaseUnavailable:
        return DatabaseUnavailable(
            f"The database is unavailable ({_reason(error)}); nothing of this request was"
            " kept. Try again shortly"
        )

    def _note_workspace_change(self, sql: str) -> None:
        """A statement of a group's write that changes the workspaces table: the workspace
        rows the group read at its opening no longer hold."""
        group = self._group
        if group is not None and "workspaces" in sql:
            group.rows.clear()

    def _read(self, run: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run a read; outside a write, a connection found lost is replaced once at once
        and the read run again (reading twice changes nothing)."""
        conn = self._live()
        try:
            return run(conn)
        except psycopg.OperationalError as error:
            in_write = self._depth or self._group is not None
            if in_write or not self._replace_now(conn, error):
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
            while (group := self._group) is not None:
                if threading.get_ident() != self._group_thread:
                    self._outside_waiting += 1  # the loop commits it soon, and opens no
                    try:  # next group with its COMMIT while this write waits
                        self._group_free.wait()
                    finally:
                        self._outside_waiting -= 1
                elif group.key == lock_key and not batch and not group.committing:
                    with self._in_group(group, opening) as rows:
                        yield rows
                    return
                else:
                    self._tell(group, self._finish_group(group))  # one round trip, then alone
            self._depth, self._owner = 1, threading.get_ident()
            committing = False
            try:
                conn, rows = self._begin(lock_key, opening)
                try:
                    yield rows
                    self._send_notices(conn, self._notices)
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
                self._depth, self._owner = 0, None
                self._prefetched = {}
                self._notices = set()
                on_commit = self._take_on_commit()  # kept only when the write is
            run_callbacks(on_commit)

    # -- groups of writes to one workspace (the event loop's) ---------------------------------

    def enable_group_commit(self, schedule: Callable[[Callable[[], None]], object]) -> None:
        """Let the calling thread (the event loop's) group its writes to one workspace: see
        `prepare_write`. `schedule` is not used: a group's COMMIT is sent from a thread."""
        self._group_thread = threading.get_ident()

    def disable_group_commit(self) -> None:
        with self._lock:
            if (group := self._group) is not None:
                self._tell(group, self._finish_group(group))
            self._group_thread = None

    @property
    def group_open(self) -> bool:
        return self._pending_group() is not None

    def after_commit(self, callback: CommitCallback) -> None:
        group = self._pending_group()
        if group is not None:
            group.waiters.append(callback)
        else:
            callback(None)

    def _pending_group(self) -> _Group | None:
        """The group whose writes have not yet been told how they ended."""
        if self._group is not None:
            return self._group
        committing = self._committing
        return committing if committing is not None and not committing.told else None

    async def prepare_write(self, lock_key: str, opening: Sequence[Statement]) -> None:
        """Before a write to `lock_key` on the event loop: wait, without holding the loop,
        until a group of writes to it is open on the writing connection (BEGIN, the lock
        and `opening` answered), opening one if there is none. The writes the loop then
        runs join it, each a savepoint, until its COMMIT goes from a thread once the loop
        has run everything else that was ready; their answers wait for it (`after_commit`).
        So a write costs the loop no round trip, and the writes that arrive while one group
        commits share the next group's two. Anything may still write without preparing: it
        joins the open group of its workspace, or the connection commits the group first."""
        if self._group_thread != threading.get_ident() or self._closing.is_set():
            return
        loop = asyncio.get_running_loop()
        while True:
            group = self._group
            if group is not None and group.key == lock_key and not group.committing:
                return
            if group is None and self._opening is None and self._committing is None:
                break
            waiter: asyncio.Future[None] = loop.create_future()
            if self._opening == lock_key:
                self._joiners.append(waiter)
            else:
                self._idle.append((lock_key, opening, waiter))
            await waiter
        self._opening = lock_key
        opened: asyncio.Future[None] = loop.create_future()
        self._joiners.append(opened)
        work = loop.run_in_executor(self._group_pool(), self._open_group, lock_key, opening)
        work.add_done_callback(lambda _: self._opened(loop))
        await opened

    def _opened(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the loop, once a group's opening has come back (or failed: then the writes run
        alone). Those waiting for it run first, then the COMMIT is sent."""
        self._opening = None
        joiners, self._joiners = self._joiners, []
        group = self._group
        if group is None:
            for waiter in joiners:
                if not waiter.done():
                    waiter.set_result(None)
            self._wake_idle()
            return
        self._let_in(loop, group, deque(joiners))

    def _let_in(
        self,
        loop: asyncio.AbstractEventLoop,
        group: _Group,
        joiners: deque[asyncio.Future[None]],
    ) -> None:
        """Let the writes waiting for `group` in one per turn of the loop, then send its
        COMMIT. Let in together, twenty writes would hold the loop for their whole work in
        one turn, and a request arriving meanwhile (a worker fetch) would wait for all of
        them; one a turn, the loop reads the sockets between two writes."""
        while joiners:
            waiter = joiners.popleft()
            if not waiter.done():
                waiter.set_result(None)
                loop.call_soon(self._let_in, loop, group, joiners)
                return
        self._start_commit(loop, group)

    def _open_group(self, lock_key: str, opening: Sequence[Statement]) -> None:
        """In the group's thread: BEGIN, the lock and the opening, one round trip."""
        with self._lock:
            if self._group is not None or self._closing.is_set():
                return
            try:
                _, rows = self._begin(lock_key, opening)
            except psycopg.OperationalError as error:
                self._failed(error)  # the write that follows runs alone and is refused
                return
            except Exception:
                log.exception("opening a group of writes failed")
                return
            self._group = _new_group(lock_key, opening, rows)

    def _start_commit(self, loop: asyncio.AbstractEventLoop, group: _Group) -> None:
        """Send the group's COMMIT from the thread. When writes wait for the connection,
        the next group's opening goes with it (for the workspace of the group if any of
        them writes to it, else for the first's), so a busy connection pays one round trip
        a group, not two."""
        if self._group is not group or group.committing:
            self._wake_idle()  # the group ended on the loop (committed early, or failed)
            return
        group.committing = True
        self._committing = group
        after: tuple[str, Sequence[Statement]] | None = None
        if self._idle:
            same = [(key, opening) for key, opening, _ in self._idle if key == group.key]
            after = same[0] if same else self._idle[0][:2]
            self._opening = after[0]
            waiting, self._idle = self._idle, []
            for key, opening, waiter in waiting:
                if key == after[0]:
                    self._joiners.append(waiter)
                else:
                    self._idle.append((key, opening, waiter))
        work = loop.run_in_executor(self._group_pool(), self._commit_in_thread, group, after)
        work.add_done_callback(lambda done: self._committed(loop, group, done))

    def _commit_in_thread(
        self, group: _Group, after: tuple[str, Sequence[Statement]] | None
    ) -> BaseException | None:
        with self._lock:
            if self._group is not group:
                return None  # the loop ended it already and told its waiters
            return self._finish_group(group, after)

    def _committed(
        self,
        loop: asyncio.AbstractEventLoop,
        group: _Group,
        done: asyncio.Future[BaseException | None],
    ) -> None:
        """On the loop: tell the group's waiters how its COMMIT went; then let the writes
        waiting for the next group run (the one opened with the COMMIT, if it was)."""
        if self._committing is group:
            self._committing = None
        failure = done.exception() or done.result()
        self._tell(group, failure)
        if self._opening is not None:
            self._opened(loop)
        else:
            self._wake_idle()

    def _wake_idle(self) -> None:
        waiting, self._idle = self._idle, []
        for _, _, waiter in waiting:
            if not waiter.done():
                waiter.set_result(None)

    def _finish_group(
        self, group: _Group, after: tuple[str, Sequence[Statement]] | None = None
    ) -> BaseException | None:
        """COMMIT the open group (under the lock, from any thread), and with it, `after`,
        open the next group (BEGIN, its lock and opening) in the same round trip; the
        failure of the COMMIT, if any."""
        conn = self._conn
        failure: BaseException | None = None
        cursors: list[psycopg.Cursor[Any]] = []
        try:
            if conn is None:
                raise DatabaseUnavailable("The database connection was lost")
            self._send_notices(conn, group.notices)
            self._release()
            conn.execute("COMMIT")
            if (
                after is None
                or self._pipeline is None
                or self._outside_waiting
                or self._closing.is_set()
            ):
                self._leave_pipeline()
            else:
                cursors = self._send_opening(conn, *after)
                self._pipeline.sync()
        except psycopg.OperationalError as error:
            failure = self._failed(error, committing=True)
        except BaseException as error:  # a refused statement sent without waiting
            failure = error
        self._end(group)
        if failure is not None:
            self._drop_held()
            if conn is not None:
                self._abandon(conn)
            return failure
        if cursors and after is not None:
            try:
                rows = [cursor.fetchone() for cursor in cursors]
            except psycopg.Error as error:  # the next group did not open; this one is kept
                log.warning("opening a group of writes failed: %s", _reason(error))
                if conn is not None:
                    self._abandon(conn)
                return None
            self._group = _new_group(after[0], after[1], rows)
        return None

    def _send_opening(
        self, conn: psycopg.Connection[Any], lock_key: str | None, opening: Sequence[Statement]
    ) -> list[psycopg.Cursor[Any]]:
        """BEGIN, the lock and the opening statements, sent without waiting."""
        conn.execute("BEGIN")
        if lock_key is not None:
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock_key,))
        return [conn.execute(self._sql(sql), params) for sql, params in opening]

    def _end(self, group: _Group) -> None:
        if self._group is group:
            self._group = None
            self._group_free.notify_all()

    def _tell(self, group: _Group, failure: BaseException | None) -> None:
        """Tell a group's waiters, once, how it ended; its writes' commit callbacks run only
        when it was kept."""
        if group.told:
            return
        group.told = True
        if failure is not None:
            # At once: a waiter may have to forget what the group wrote (the engine's
            # routing indexes) before the loop runs another write.
            for waiter in group.waiters:
                waiter(failure)
            return
        run_callbacks(group.on_commit)
        loop = _running_loop() if threading.get_ident() == self._group_thread else None
        if loop is None or not group.waiters:
            for waiter in group.waiters:
                waiter(None)
            return
        _tell_one_a_turn(loop, deque(group.waiters))

    @contextmanager
    def _in_group(self, group: _Group, opening: Sequence[Statement]) -> Iterator[list[Row | None]]:
        """One write of the open group (under the lock, on the loop's thread): a savepoint,
        rolled back alone when the write fails (a refusal of the engine's); a failure of the
        connection or a statement the database refused ends the whole group, and every write
        of it is refused."""
        conn = self._live()
        self._depth, self._owner = 1, threading.get_ident()
        before = (group.seq, group.fresh)
        write = self._write = _Write()
        kept = False
        try:
            try:
                yield self._group_rows(group, opening)
                self._send_waiting(write)
                if write.savepoint:
                    conn.execute("RELEASE SAVEPOINT write")
                kept = True
            except (psycopg.Error, DatabaseUnavailable) as error:
                # The connection failed, or the database refused a statement, perhaps one
                # sent without waiting by an earlier write: the transaction is gone.
                self._drop_held()
                failure = (
                    self._failed(error) if isinstance(error, psycopg.OperationalError) else error
                )
                self._abandon(conn)
                self._end(group)
                self._tell(group, failure)
                if failure is error:
                    raise
                raise failure from error
            except BaseException:
                self._drop_held()
                group.seq, group.fresh = before
                if write.savepoint:  # else nothing of the write went out
                    self._undo_in_group(conn, group)
                raise
        finally:
            self._write = None
            self._depth, self._owner = 0, None
            self._prefetched = {}
            on_commit = self._take_on_commit()
        if kept:
            group.on_commit.extend(on_commit)
            group.notices |= write.notices

    def _undo_in_group(self, conn: psycopg.Connection[Any], group: _Group) -> None:
        """Roll a failed write of the group back to its savepoint; if even that fails, the
        group ends, refused."""
        try:
            conn.execute("ROLLBACK TO SAVEPOINT write")
            conn.execute("RELEASE SAVEPOINT write")
            if self._pipeline is not None:
                self._pipeline.sync()
        except psycopg.Error as error:
            failure: BaseException = (
                self._failed(error) if isinstance(error, psycopg.OperationalError) else error
            )
            self._abandon(conn)
            self._end(group)
            self._tell(group, failure)

    def _group_rows(self, group: _Group, opening: Sequence[Statement]) -> list[Row | None]:
        """A write's opening inside the group. The change number counts on from the group's
        (the write's UPDATE is sent without waiting: the lock is held, nobody else moves
        it); the rows the group read at its opening are reused while no write of the group
        has changed the workspaces table; anything else is read."""
        rows: list[Row | None] = []
        for sql, params in opening:
            key = (sql, tuple(params))
            if key == group.counter:
                if group.fresh:
                    group.fresh = False
                else:
                    assert self._write is not None  # a write of the group asks
                    self._count_on(self._write, sql, params)
                    group.seq += 1
                rows.append((group.seq,))
            elif key in group.rows:
                rows.append(group.rows[key])
            else:
                row = self.fetchone(sql, params)
                group.rows[key] = row
                rows.append(row)
        return rows

    def _count_on(self, write: _Write, sql: str, params: Params) -> None:
        """Move the workspace's change number on, with the write's end."""
        write.later.append(lambda: self._send_rows(self._live(), sql, [params]))

    def _group_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="switchboard-group")
        return self._pool

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
                cursors = self._send_opening(conn, lock_key, opening)
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
        self._sender.forget()
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
            self._conn = self._open_writer()
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
                conn = self._open_writer()
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
            if conn is None or self._depth or self._group is not None:
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
        self._readers.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        with self._probe_lock:
            if self._probe_conn is not None:
                self._probe_conn.close()
                self._probe_conn = None


def _tell_one_a_turn(loop: asyncio.AbstractEventLoop, waiters: deque[CommitCallback]) -> None:
    """Tell a committed group's waiters one per turn of the loop. Told together, the twenty
    answers a group holds would all run in the next turn, and a request arriving meanwhile
    (a worker fetch) would wait for every one; one a turn, the loop reads its sockets
    between two answers. (SQLite's group answers all at once: its server, with no round trip
    to fill, lost a fifth of its lifecycles a second to the extra turns.)"""
    waiters.popleft()(None)
    if waiters:
        loop.call_soon(_tell_one_a_turn, loop, waiters)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _executemany(conn: psycopg.Connection[Any], sql: str, rows: Sequence[Params]) -> None:
    with conn.cursor() as cur:
        cur.executemany(sql, rows)


def _copy(conn: psycopg.Connection[Any], table: str, columns: str, rows: Sequence[Params]) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _reason(error: BaseException) -> str:
    """The first line of a driver's message: libpq's run to several lines of advice."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _push(conn: psycopg.Connection[Any]) -> None:
    """Send what libpq has queued, and take in the results that came back so far.

    In pipeline mode libpq keeps statements until 64 KB are queued, and their results are
    read only at the next sync: rows sent ahead could wait for the COMMIT in libpq, and over
    a large write PostgreSQL's unread answers can fill the socket until its backend stops
    reading. Taken into libpq's own buffer, the results are matched to their statements at
    the sync as before."""
    pgconn = conn.pgconn
    pgconn.consume_input()
    pgconn.flush()
