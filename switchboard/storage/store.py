"""The Store: every read and write of Switchboard's state, in portable SQL.

Contract for callers:
- Reads may happen anywhere and see committed data (or the caller's own open transaction).
- Every change happens inside `with store.write(workspace_sid) as seq:`; the block is one
  transaction, holds the workspace's write lock, and `seq` is the workspace's new change
  number, which each written row must carry (`change_seq`) so routing indexes can catch up.
- Rows are returned as the frozen records of `switchboard.models`.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from switchboard.models import (
    Account,
    Activity,
    ApiKey,
    TaskChannel,
    TaskQueue,
    Worker,
    WorkerChannel,
    Workspace,
)
from switchboard.storage.assignment_callback_rows import AssignmentCallbackRows
from switchboard.storage.board_rows import BoardRows
from switchboard.storage.columns import (
    ACTIVITY_COLUMNS,
    ACTIVITY_SORT,
    CHANNEL_COLUMNS,
    CHANNEL_SORT,
    QUEUE_COLUMNS,
    QUEUE_SELECT,
    QUEUE_SORT,
    WORKER_CHANNEL_COLUMNS,
    WORKER_CHANNEL_SELECT,
    WORKER_CHANNEL_SORT,
    WORKER_INSERT_COLUMNS,
    WORKER_SELECT,
    WORKSPACE_COLUMNS,
    WORKSPACE_SELECT,
    WORKSPACE_SORT,
    activity_values,
    channel_values,
    queue_values,
    to_activity,
    to_channel,
    to_queue,
    to_worker,
    to_worker_channel,
    to_workspace,
    worker_channel_values,
    worker_values,
    workspace_settings,
)
from switchboard.storage.database import Database, Row
from switchboard.storage.databases import connect
from switchboard.storage.deadline_rows import DeadlineRows
from switchboard.storage.event_attributes import AttributeTexts
from switchboard.storage.event_rows import EventRow, EventRows
from switchboard.storage.event_stream_rows import EventStreamRows
from switchboard.storage.held_rows import HeldRows
from switchboard.storage.keyset import Order
from switchboard.storage.migrate import migrate
from switchboard.storage.presence_rows import PresenceRows
from switchboard.storage.reservation_rows import RESERVATION_CHANGES, ReservationRows
from switchboard.storage.secret_box import SecretBox
from switchboard.storage.sql import insert_sql, marks, where_equal
from switchboard.storage.sqlite import SQLiteDatabase
from switchboard.storage.statistics_rows import StatisticsRows
from switchboard.storage.task_rows import TASK_CHANGES, TaskRows
from switchboard.storage.timed import TimedDatabase
from switchboard.storage.transfer_rows import TransferRows
from switchboard.storage.workflow_rows import WORKFLOW_CHANGES, WorkflowRows

if TYPE_CHECKING:
    from switchboard.storage.event_listener import EventListener

# Tables holding a workspace's rows, children first, for deleting a whole workspace.
_WORKSPACE_TABLES = (
    "worker_channels",
    "workers",
    "task_queues",
    "task_channels",
    "activities",
    "tombstones",
    "reservations",
    "tasks",
    "workflows",
    "events",
    "assignment_callbacks",
    "worker_sessions",
)


T = TypeVar("T")

# Threads (each with its own PostgreSQL connection) that run API reads off the event loop.
# With four, a worker fetch beside full-speed lifecycles (their reservation lists read here
# too) waited up to 29 ms for a free thread; with eight, about 5 (bench/HISTORY.md, round 7).
READ_THREADS = 8

# A write's first statement: the workspace's next change number (see `Store.write`).
_NEXT_CHANGE = (
    "UPDATE workspaces SET change_seq = change_seq + 1 WHERE sid = ? RETURNING change_seq"
)
_WORKSPACE_BY_SID = f"{WORKSPACE_SELECT} WHERE w.sid = ?"


# What a routing index catching up reads (see `prefetch_changes`).
_ACTIVITY_CHANGES = (
    f"SELECT {ACTIVITY_COLUMNS} FROM activities WHERE workspace_sid = ? AND change_seq > ?"
)
_QUEUE_CHANGES = f"{QUEUE_SELECT} WHERE q.workspace_sid = ? AND q.change_seq > ?"
_WORKER_CHANGES = f"{WORKER_SELECT} WHERE w.workspace_sid = ? AND w.change_seq > ?"
_WORKER_CHANNEL_CHANGES = f"{WORKER_CHANNEL_SELECT} WHERE c.workspace_sid = ? AND c.change_seq > ?"
_TOMBSTONE_CHANGES = (
    "SELECT kind, sid FROM tombstones WHERE workspace_sid = ? AND change_seq > ?"
    " ORDER BY change_seq"
)
_DEFAULT_CHANNEL_ORDER: Order = (("date_created", False), ("sid", False))


def _channels_query(
    workspace_sid: str, order: Order, after: Sequence[Any] | None, limit: int
) -> tuple[str, list[Any]]:
    tail, values = CHANNEL_SORT.page(["workspace_sid = ?"], [workspace_sid], order, after)
    return f"SELECT {CHANNEL_COLUMNS} FROM task_channels{tail}", [*values, limit]


def _change_seq(row: Row | None) -> int:
    """The change number `_NEXT_CHANGE` returned; 0 for a workspace not (yet) there."""
    return int(row[0]) if row else 0


class Store:
    """Switchboard's persistence; see the module docstring for the contract.

    The Store reads and writes accounts, API keys, workspaces and their configuration
    (activities, task channels, task queues, workers and their channels) itself; the rest
    it gives to collaborators named after what they hold (storage/__init__.py lists them)."""

    def __init__(self, db: Database) -> None:
        # Every statement goes through the timing layer (see timed.py); held rows are
        # flushed inside a statement or a commit, whose time already counts them.
        self.db: TimedDatabase = TimedDatabase(db)
        self.held = HeldRows(db)
        self._secret_box: SecretBox | None = None
        # What the engine routes: workflows, tasks, the reservations offering them, their
        # deadlines, and the outbox of assignment callbacks.
        self.workflows = WorkflowRows(self.db)
        self.tasks = TaskRows(self.db, self.held)
        self.reservations = ReservationRows(self.db, self.held)
        self.deadlines = DeadlineRows(self.db)
        self.assignment_callbacks = AssignmentCallbackRows(self.db)
        # What every write did (the Events API, the push, statistics), and the event
        # callback streams delivering it.
        self.events = EventRows(self.db, AttributeTexts())
        self.event_streams = EventStreamRows(self.db)
        # Aggregates over open tasks and a window of events (the statistics layer).
        self.statistics = StatisticsRows(self.db)
        # The console's and the metrics' aggregate reads.
        self.board = BoardRows(self.db)
        # Which worker SDK sessions are open, across processes (realtime/presence.py).
        self.presence = PresenceRows(self.db)
        # Task transfers of the worker SDK (engine/transfers.py).
        self.transfers = TransferRows(self.db)
        # PostgreSQL's reads off the event loop (`read`).
        self._read_pool = (
            ThreadPoolExecutor(READ_THREADS, thread_name_prefix="switchboard-read")
            if db.dialect == "postgres"
            else None
        )

    @classmethod
    def open(cls, url: str, *, schema: str | None = None) -> Store:
        """Connect to `url` and bring its schema up to date."""
        db = connect(url, schema=schema)
        migrate(db)
        return cls(db)

    def close(self) -> None:
        if self._read_pool is not None:
            self._read_pool.shutdown(wait=False)
        self.db.close()

    def copy_in_memory(self) -> Store:
        """A new Store on an in-memory copy of this SQLite database (schema and rows), sharing
        nothing with it. PostgreSQL has no such copy: a ValueError there."""
        if not isinstance(self.db.inner, SQLiteDatabase):
            raise ValueError("only a SQLite store can be copied in memory")
        return Store(self.db.inner.copy_in_memory())

    @contextmanager
    def write(self, workspace_sid: str | None, *, batch: bool = False) -> Iterator[int]:
        """One transaction under the workspace's write lock; yields its new change number.

        `batch` marks a large write (a tick's deadlines): it commits on its own rather than
        with a group, and where the database can, its statements are pipelined so that
        `send_ahead` lets the database store rows while the caller works on."""
        if workspace_sid is None:
            with self.db.transaction(None, batch=batch):
                yield 0
            return
        opening = [(_NEXT_CHANGE, (workspace_sid,))]
        with self.db.transaction(workspace_sid, batch=batch, opening=opening) as rows:
            yield _change_seq(rows[0])

    @contextmanager
    def write_workspace(
        self, workspace_sid: str, *, batch: bool = False
    ) -> Iterator[tuple[int, Workspace | None]]:
        """`write`, yielding the workspace as the write found it (None: there is none) with
        the change number. The engine reads the workspace first in every write; on
        PostgreSQL the read goes with the write's opening, in one round trip."""
        opening = [(_NEXT_CHANGE, (workspace_sid,)), (_WORKSPACE_BY_SID, (workspace_sid,))]
        with self.db.transaction(workspace_sid, batch=batch, opening=opening) as rows:
            found = rows[1]
            yield _change_seq(rows[0]), None if found is None else to_workspace(found)

    def prefetch_changes(self, workspace_sid: str, seq: int) -> None:
        """A routing index is about to catch up from change number `seq`, inside a write:
        on PostgreSQL its reads go together, in one round trip rather than ten, and the
        reads that follow are answered from what came back (`Database.prefetch`)."""
        since = (workspace_sid, seq)
        self.db.prefetch(
            [
                (_ACTIVITY_CHANGES, since),
                _channels_query(workspace_sid, _DEFAULT_CHANNEL_ORDER, None, 1000),
                (_QUEUE_CHANGES, since),
                (_WORKER_CHANGES, since),
                (_WORKER_CHANNEL_CHANGES, since),
                (WORKFLOW_CHANGES, since),
                (TASK_CHANGES, since),
                (RESERVATION_CHANGES, since),
                (_TOMBSTONE_CHANGES, since),
            ]
        )

    async def prepare_write(self, workspace_sid: str) -> None:
        """Call on the event loop right before a write to the workspace (`write_workspace`):
        on PostgreSQL it waits, without holding the loop, for a group of writes to the
        workspace to open, which the write then joins at no round trip of its own (see
        PostgresDatabase.prepare_write); elsewhere it returns at once."""
        opening = [(_NEXT_CHANGE, (workspace_sid,)), (_WORKSPACE_BY_SID, (workspace_sid,))]
        await self.db.prepare_write(workspace_sid, opening)

    @property
    def reads_off_loop(self) -> bool:
        """Whether reads cost a round trip to a server (PostgreSQL), so `read` runs them on
        threads and callers may keep what they can rather than ask again."""
        return self._read_pool is not None

    async def read(self, read: Callable[..., T], *args: Any) -> T:
        """`read(*args)` (a Store read) where it costs the event loop least: inline on
        SQLite, whose reads are shorter than a hop to a thread; on PostgreSQL on a thread of
        the read pool, each on a connection of its own, so the loop serves other requests
        during the round trip."""
        if self._read_pool is None:
            return read(*args)
        return await asyncio.get_running_loop().run_in_executor(self._read_pool, read, *args)

    # -- commits ------------------------------------------------------------------------------

    @property
    def commit_pending(self) -> bool:
        """Whether writes that have returned still wait for their group's COMMIT."""
        return self.db.group_open

    def after_commit(self, callback: Callable[[BaseException | None], None]) -> None:
        """Call `callback` once the writes made so far are committed (None) or were rolled
        back (the failure); at once when nothing is pending."""
        self.db.after_commit(callback)

    def send_ahead(self, events: Sequence[EventRow]) -> bool:
        """In a pipelined batch write, send `events` and every row held so far now, so the
        database stores them while the write goes on; returns whether it did. Elsewhere it
        does nothing and returns False: the caller writes the events at the end as usual."""
        if not self.db.pipelined:
            return False
        if events:
            self.events.insert(events)
        self.db.send_held()
        return True

    def group_commits(self, schedule: Callable[[Callable[[], None]], object]) -> None:
        """Let writes made on one event loop share commits (SQLite; a no-op on PostgreSQL):
        `schedule` runs the group's COMMIT once the loop has run everything else ready."""
        self.db.enable_group_commit(schedule)

    def commit_each_write(self) -> None:
        """Stop grouping commits (the event loop that ran them is going away)."""
        self.db.disable_group_commit()

    def listen_for_events(self, heard: Callable[[str | None], None]) -> EventListener | None:
        """Where other processes may commit events (PostgreSQL), a listener, to start on the
        event loop, calling `heard(workspace_sid)` there as soon as another process commits
        events of that workspace, and `heard(None)` when it (re)starts listening; elsewhere
        None (SQLite has one writing process)."""
        channel = self.db.events_channel
        if channel is None:
            return None
        # Imported here so SQLite users never load psycopg.
        from switchboard.storage.event_listener import EventListener
        from switchboard.storage.postgres import PostgresDatabase

        inner = self.db.inner
        assert isinstance(inner, PostgresDatabase)
        return EventListener(inner.url, channel, heard, own_pid=inner.backend_pid)

    def observe_database(self, observer: Callable[[float], None] | None) -> None:
        """Tell `observer` the seconds of each call to the database (None: stop), on the
        thread that made it: statements, and a write's opening and commit (timed.py)."""
        self.db.observer = observer

    # -- health -------------------------------------------------------------------------------

    def database_outage(self) -> tuple[str, int] | None:
        """None when the database answers now; else why it does not, and since when (epoch
        ms). Never waits behind a write; on PostgreSQL it may wait on the network (as long
        as a connection attempt's timeout), so a caller that must answer quickly bounds it."""
        return self.db.probe()

    # -- meta -------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def set_meta_once(self, key: str, value: str) -> str:
        """Store `value` under `key` unless a value is there already; returns the kept value."""
        with self.db.transaction("switchboard:meta"):
            existing = self.get_meta(key)
            if existing is not None:
                return existing
            self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
            return value

    def set_meta(self, key: str, value: str) -> None:
        """Store `value` under `key`, replacing any value there."""
        with self.db.transaction("switchboard:meta"):
            self.db.execute("DELETE FROM meta WHERE key = ?", (key,))
            self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- accounts and API keys ----------------------------------------------------------------

    def insert_account(self, account: Account) -> None:
        self.db.execute(
            "INSERT INTO accounts (sid, auth_token, friendly_name, date_created)"
            " VALUES (?, ?, ?, ?)",
            (account.sid, account.auth_token, account.friendly_name, account.date_created),
        )

    def get_account(self, sid: str) -> Account | None:
        row = self.db.fetchone(
            "SELECT sid, auth_token, friendly_name, date_created FROM accounts WHERE sid = ?",
            (sid,),
        )
        return None if row is None else Account(*row)

    def list_accounts(self) -> list[Account]:
        rows = self.db.fetchall(
            "SELECT sid, auth_token, friendly_name, date_created FROM accounts"
            " ORDER BY date_created, sid"
        )
        return [Account(*row) for row in rows]

    def set_auth_token(self, sid: str, auth_token: str) -> None:
        self.db.execute("UPDATE accounts SET auth_token = ? WHERE sid = ?", (auth_token, sid))

    def use_server_secret(self, secret: str | None) -> None:
        """Seal API key secrets under `secret` (the SWITCHBOARD_SECRET_KEY setting). Without
        one, a secret generated once is kept in the meta table: enough for local work, but
        it sits beside what it protects, so a deployment configures its own."""
        if not secret:
            secret = self.set_meta_once("server_secret", secrets.token_urlsafe(32))
        self._secret_box = SecretBox(secret)

    def _box(self) -> SecretBox:
        if self._secret_box is None:
            self.use_server_secret(None)
        assert self._secret_box is not None
        return self._secret_box

    def insert_api_key(self, key: ApiKey, secret: str | None = None) -> None:
        """Store the key; given its `secret`, also sealed, so tokens it signs can be checked."""
        sealed = None if secret is None else self._box().seal(secret)
        self.db.execute(
            "INSERT INTO api_keys"
            " (sid, account_sid, secret_hash, friendly_name, date_created, secret_sealed)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                key.sid,
                key.account_sid,
                key.secret_hash,
                key.friendly_name,
                key.date_created,
                sealed,
            ),
        )

    def api_key_secret(self, sid: str) -> str | None:
        """The key's secret, or None when the key has none sealed (made before secrets were
        kept) or it was sealed under another server secret."""
        row = self.db.fetchone("SELECT secret_sealed FROM api_keys WHERE sid = ?", (sid,))
        if row is None or row[0] is None:
            return None
        return self._box().open(str(row[0]))

    def get_api_key(self, sid: str) -> ApiKey | None:
        row = self.db.fetchone(
            "SELECT sid, account_sid, secret_hash, friendly_name, date_created"
            " FROM api_keys WHERE sid = ?",
            (sid,),
        )
        return None if row is None else ApiKey(*row)

    def list_api_keys(self, account_sid: str) -> list[ApiKey]:
        rows = self.db.fetchall(
            "SELECT sid, account_sid, secret_hash, friendly_name, date_created"
            " FROM api_keys WHERE account_sid = ? ORDER BY date_created, sid",
            (account_sid,),
        )
        return [ApiKey(*row) for row in rows]

    def delete_api_key(self, sid: str) -> bool:
        """Whether a key was deleted."""
        return self.db.execute("DELETE FROM api_keys WHERE sid = ?", (sid,)) > 0

    # -- workspaces ---------------------------------------------------------------------------

    def insert_workspace(self, ws: Workspace, seq: int = 0) -> None:
        created = (ws.date_created, ws.date_updated, seq)
        self.db.execute(
            insert_sql("workspaces", f"{WORKSPACE_COLUMNS}, change_seq"),
            (ws.sid, ws.account_sid, *workspace_settings(ws), *created),
        )

    def update_workspace(self, ws: Workspace) -> None:
        self.db.execute(
            "UPDATE workspaces SET friendly_name = ?, event_callback_url = ?, events_filter = ?,"
            " multi_task_enabled = ?, default_activity_sid = ?, timeout_activity_sid = ?,"
            " prioritize_queue_order = ?, date_updated = ? WHERE sid = ?",
            (*workspace_settings(ws), ws.date_updated, ws.sid),
        )

    def get_workspace(self, sid: str, account_sid: str | None = None) -> Workspace | None:
        """The workspace, or None when it does not exist or belongs to another account."""
        if account_sid is None:
            row = self.db.fetchone(f"{WORKSPACE_SELECT} WHERE w.sid = ?", (sid,))
        else:
            row = self.db.fetchone(
                f"{WORKSPACE_SELECT} WHERE w.sid = ? AND w.account_sid = ?", (sid, account_sid)
            )
        return None if row is None else to_workspace(row)

    def workspace_exists(self, sid: str, account_sid: str) -> bool:
        row = self.db.fetchone(
            "SELECT 1 FROM workspaces WHERE sid = ? AND account_sid = ?", (sid, account_sid)
        )
        return row is not None

    def list_workspaces(
        self,
        account_sid: str,
        *,
        friendly_name: str | None,
        order: Order,
        after: Sequence[Any] | None,
        limit: int,
    ) -> list[Workspace]:
        where, params = ["w.account_sid = ?"], [account_sid]
        where_equal(where, params, [("w.friendly_name", friendly_name)])
        tail, values = WORKSPACE_SORT.page(where, params, order, after)
        return [
            to_workspace(r) for r in self.db.fetchall(WORKSPACE_SELECT + tail, [*values, limit])
        ]

    def all_workspace_sids(self) -> list[str]:
        return [row[0] for row in self.db.fetchall("SELECT sid FROM workspaces ORDER BY sid")]

    def workspace_change_seq(self, sid: str) -> int | None:
        row = self.db.fetchone("SELECT change_seq FROM workspaces WHERE sid = ?", (sid,))
        return None if row is None else int(row[0])

    def delete_workspace(self, sid: str) -> None:
        """Delete the workspace and every row that belongs to it."""
        for table in _WORKSPACE_TABLES:
            self.db.execute(f"DELETE FROM {table} WHERE workspace_sid = ?", (sid,))
        self.db.execute("DELETE FROM workspaces WHERE sid = ?", (sid,))

    def add_tombstone(self, workspace_sid: str, seq: int, kind: str, sid: str) -> None:
        self.db.execute(
            "INSERT INTO tombstones (workspace_sid, change_seq, kind, sid) VALUES (?, ?, ?, ?)",
            (workspace_sid, seq, kind, sid),
        )

    def tombstones_since(self, workspace_sid: str, seq: int) -> list[tuple[str, str]]:
        """(kind, sid) of rows deleted after change number `seq`."""
        rows = self.db.fetchall(_TOMBSTONE_CHANGES, (workspace_sid, seq))
        return [(r[0], r[1]) for r in rows]

    # -- activities ---------------------------------------------------------------------------

    def insert_activity(self, a: Activity, seq: int) -> None:
        self.db.execute(
            insert_sql("activities", f"{ACTIVITY_COLUMNS}, change_seq"),
            (*activity_values(a), seq),
        )

    def update_activity(self, a: Activity, seq: int) -> None:
        self.db.execute(
            "UPDATE activities SET friendly_name = ?, date_updated = ?, change_seq = ?"
            " WHERE sid = ?",
            (a.friendly_name, a.date_updated, seq, a.sid),
        )

    def get_activity(self, workspace_sid: str, sid: str) -> Activity | None:
        row = self.db.fetchone(
            f"SELECT {ACTIVITY_COLUMNS} FROM activities WHERE workspace_sid = ? AND sid = ?",
            (workspace_sid, sid),
        )
        return None if row is None else to_activity(row)

    def list_activities(
        self,
        workspace_sid: str,
        *,
        friendly_name: str | None = None,
        available: bool | None = None,
        order: Order = (("date_created", False), ("sid", False)),
        after: Sequence[Any] | None = None,
        limit: int = 1000,
    ) -> list[Activity]:
        where: list[str] = ["workspace_sid = ?"]
        params: list[Any] = [workspace_sid]
        available_value = None if available is None else int(available)
        where_equal(
            where, params, [("friendly_name", friendly_name), ("available", available_value)]
        )
        tail, values = ACTIVITY_SORT.page(where, params, order, after)
        rows = self.db.fetchall(
            f"SELECT {ACTIVITY_COLUMNS} FROM activities{tail}", [*values, limit]
        )
        return [to_activity(r) for r in rows]

    def activity_changes(self, workspace_sid: str, seq: int) -> list[Activity]:
        rows = self.db.fetchall(_ACTIVITY_CHANGES, (workspace_sid, seq))
        return [to_activity(r) for r in rows]

    def activity_uses(self, workspace_sid: str, sid: str) -> list[str]:
        """What refers to this activity: 'workspace', 'worker' and 'task_queue' entries."""
        uses: list[str] = []
        if self.db.fetchone(
            "SELECT 1 FROM workspaces WHERE sid = ? AND (default_activity_sid = ?"
            " OR timeout_activity_sid = ?)",
            (workspace_sid, sid, sid),
        ):
            uses.append("workspace")
        if self.db.fetchone(
            "SELECT 1 FROM workers WHERE workspace_sid = ? AND activity_sid = ? LIMIT 1",
            (workspace_sid, sid),
        ):
            uses.append("worker")
        if self.db.fetchone(
            "SELECT 1 FROM task_queues WHERE workspace_sid = ? AND (reservation_activity_sid = ?"
            " OR assignment_activity_sid = ?) LIMIT 1",
            (workspace_sid, sid, sid),
        ):
            uses.append("task_queue")
        return uses

    def delete_activity(self, workspace_sid: str, sid: str) -> None:
        self.db.execute(
            "DELETE FROM activities WHERE workspace_sid = ? AND sid = ?", (workspace_sid, sid)
        )

    # -- task channels ------------------------------------------------------------------------

    def insert_task_channel(self, c: TaskChannel, seq: int) -> None:
        self.db.execute(
            insert_sql("task_channels", f"{CHANNEL_COLUMNS}, change_seq"),
            (*channel_values(c), seq),
        )

    def update_task_channel(self, c: TaskChannel, seq: int) -> None:
        self.db.execute(
            "UPDATE task_channels SET friendly_name = ?, channel_optimized_routing = ?,"
            " date_updated = ?, change_seq = ? WHERE sid = ?",
            (c.friendly_name, int(c.channel_optimized_routing), c.date_updated, seq, c.sid),
        )

    def get_task_channel(self, workspace_sid: str, sid_or_name: str) -> TaskChannel | None:
        """By TC SID or by unique name."""
        column = "sid" if sid_or_name.startswith("TC") and len(sid_or_name) == 34 else "unique_name"
        row = self.db.fetchone(
            f"SELECT {CHANNEL_COLUMNS} FROM task_channels WHERE workspace_sid = ? AND {column} = ?",
            (workspace_sid, sid_or_name),
        )
        return None if row is None else to_channel(row)

    def list_task_channels(
        self,
        workspace_sid: str,
        *,
        order: Order = (("date_created", False), ("sid", False)),
        after: Sequence[Any] | None = None,
        limit: int = 1000,
    ) -> list[TaskChannel]:
        rows = self.db.fetchall(*_channels_query(workspace_sid, order, after, limit))
        return [to_channel(r) for r in rows]

    def delete_task_channel(self, workspace_sid: str, sid: str) -> None:
        self.db.execute(
            "DELETE FROM worker_channels WHERE workspace_sid = ? AND task_channel_sid = ?",
            (workspace_sid, sid),
        )
        self.db.execute(
            "DELETE FROM task_channels WHERE workspace_sid = ? AND sid = ?", (workspace_sid, sid)
        )

    # -- task queues --------------------------------------------------------------------------

    def insert_task_queue(self, q: TaskQueue, seq: int) -> None:
        self.db.execute(
            insert_sql("task_queues", f"{QUEUE_COLUMNS}, change_seq"),
            (*queue_values(q), seq),
        )

    def update_task_queue(self, q: TaskQueue, seq: int) -> None:
        self.db.execute(
            "UPDATE task_queues SET friendly_name = ?, target_workers = ?,"
            " max_reserved_workers = ?, task_order = ?, reservation_activity_sid = ?,"
            " assignment_activity_sid = ?, date_updated = ?, change_seq = ? WHERE sid = ?",
            (
                q.friendly_name,
                q.target_workers,
                q.max_reserved_workers,
                q.task_order.value,
                q.reservation_activity_sid,
                q.assignment_activity_sid,
                q.date_updated,
                seq,
                q.sid,
            ),
        )

    def get_task_queue(self, workspace_sid: str, sid: str) -> TaskQueue | None:
        row = self.db.fetchone(
            f"{QUEUE_SELECT} WHERE q.workspace_sid = ? AND q.sid = ?", (workspace_sid, sid)
        )
        return None if row is None else to_queue(row)

    def list_task_queues(
        self,
        workspace_sid: str,
        *,
        friendly_name: str | None = None,
        sids: Sequence[str] | None = None,
        order: Order = (("date_created", False), ("sid", False)),
        after: Sequence[Any] | None = None,
        limit: int = 5000,
    ) -> list[TaskQueue]:
        where, params = ["q.workspace_sid = ?"], [workspace_sid]
        where_equal(where, params, [("q.friendly_name", friendly_name)])
        if sids is not None:
            if not sids:
                return []
            where.append(f"q.sid IN ({marks(len(sids))})")
            params.extend(sids)
        tail, values = QUEUE_SORT.page(where, params, order, after)
        return [to_queue(r) for r in self.db.fetchall(QUEUE_SELECT + tail, [*values, limit])]

    def count_task_queues(self, workspace_sid: str) -> int:
        row = self.db.fetchone(
            "SELECT COUNT(*) FROM task_queues WHERE workspace_sid = ?", (workspace_sid,)
        )
        return int(row[0]) if row else 0

    def task_queue_changes(self, workspace_sid: str, seq: int) -> list[TaskQueue]:
        rows = self.db.fetchall(_QUEUE_CHANGES, (workspace_sid, seq))
        return [to_queue(r) for r in rows]

    def delete_task_queue(self, workspace_sid: str, sid: str) -> None:
        self.db.execute(
            "DELETE FROM task_queues WHERE workspace_sid = ? AND sid = ?", (workspace_sid, sid)
        )

    # -- workers ------------------------------------------------------------------------------

    def insert_worker(self, w: Worker, seq: int) -> None:
        self.db.execute(
            insert_sql("workers", f"{WORKER_INSERT_COLUMNS}, change_seq"),
            (*worker_values(w), seq),
        )

    def update_worker(self, w: Worker, seq: int) -> None:
        """Held until the transaction's next other statement or its commit (`HeldRows`)."""
        self.held.worker(w, seq)

    def get_worker(self, workspace_sid: str, sid: str) -> Worker | None:
        row = self.db.fetchone(
            f"{WORKER_SELECT} WHERE w.workspace_sid = ? AND w.sid = ?", (workspace_sid, sid)
        )
        return None if row is None else to_worker(row)

    def get_account_worker(self, account_sid: str, workspace_sid: str, sid: str) -> Worker | None:
        """The worker, only if its workspace belongs to the account (one read)."""
        row = self.db.fetchone(
            f"{WORKER_SELECT} WHERE w.workspace_sid = ? AND w.sid = ? AND w.account_sid = ?",
            (workspace_sid, sid, account_sid),
        )
        return None if row is None else to_worker(row)

    def worker_name_taken(self, workspace_sid: str, name: str, except_sid: str = "") -> bool:
        """True when another worker of the workspace has this name, ignoring case."""
        row = self.db.fetchone(
            "SELECT 1 FROM workers WHERE workspace_sid = ? AND name_key = ? AND sid <> ?",
            (workspace_sid, name.casefold(), except_sid),
        )
        return row is not None

    def count_workers(self, workspace_sid: str) -> int:
        row = self.db.fetchone(
            "SELECT COUNT(*) FROM workers WHERE workspace_sid = ?", (workspace_sid,)
        )
        return int(row[0]) if row else 0

    def worker_changes(self, workspace_sid: str, seq: int) -> list[Worker]:
        """Workers written after change number `seq` (every worker when seq is -1)."""
        rows = self.db.fetchall(_WORKER_CHANGES, (workspace_sid, seq))
        return [to_worker(r) for r in rows]

    def get_workers(self, workspace_sid: str, sids: Sequence[str]) -> list[Worker]:
        """The workers with these SIDs, in the order given (missing ones left out)."""
        found: dict[str, Worker] = {}
        for start in range(0, len(sids), 500):
            chunk = sids[start : start + 500]
            rows = self.db.fetchall(
                f"{WORKER_SELECT} WHERE w.workspace_sid = ? AND w.sid IN ({marks(len(chunk))})",
                [workspace_sid, *chunk],
            )
            found.update((r[0], to_worker(r)) for r in rows)
        return [found[s] for s in sids if s in found]

    def delete_worker(self, workspace_sid: str, sid: str) -> None:
        self.db.execute(
            "DELETE FROM worker_channels WHERE workspace_sid = ? AND worker_sid = ?",
            (workspace_sid, sid),
        )
        self.db.execute(
            "DELETE FROM workers WHERE workspace_sid = ? AND sid = ?", (workspace_sid, sid)
        )

    # -- worker channels ----------------------------------------------------------------------

    def insert_worker_channels(self, channels: Sequence[WorkerChannel], seq: int) -> None:
        self.db.executemany(
            insert_sql("worker_channels", f"{WORKER_CHANNEL_COLUMNS}, change_seq"),
            [(*worker_channel_values(c), seq) for c in channels],
        )

    def update_worker_channel(self, c: WorkerChannel, seq: int) -> None:
        self.db.execute(
            "UPDATE worker_channels SET configured_capacity = ?, available = ?,"
            " date_updated = ?, change_seq = ? WHERE sid = ?",
            (c.configured_capacity, int(c.available), c.date_updated, seq, c.sid),
        )

    def get_worker_channel(
        self, workspace_sid: str, worker_sid: str, sid_or_name: str
    ) -> WorkerChannel | None:
        """By WC SID, or by the unique name of its task channel."""
        params: list[Any] = [workspace_sid, worker_sid]
        if sid_or_name.startswith("WC") and len(sid_or_name) == 34:
            condition = "c.sid = ?"
        else:
            # Resolve the name first: joined, SQLite's planner scans every worker channel.
            condition = (
                "c.task_channel_sid = (SELECT sid FROM task_channels"
                " WHERE workspace_sid = ? AND unique_name = ?)"
            )
            params.append(workspace_sid)
        row = self.db.fetchone(
            f"{WORKER_CHANNEL_SELECT} WHERE c.workspace_sid = ? AND c.worker_sid = ?"
            f" AND {condition}",
            [*params, sid_or_name],
        )
        return None if row is None else to_worker_channel(row)

    def list_worker_channels(
        self,
        workspace_sid: str,
        worker_sid: str,
        *,
        order: Order = (("date_created", False), ("sid", False)),
        after: Sequence[Any] | None = None,
        limit: int = 1000,
    ) -> list[WorkerChannel]:
        # `|| ''` keeps the planner off the workspace's change index, which SQLite took for
        # `workspace_sid = ?` and scanned every channel of the workspace (five per worker)
        # on each agent's (re)connect; the worker's own unique index finds its few.
        tail, values = WORKER_CHANNEL_SORT.page(
            ["c.worker_sid = ?", "c.workspace_sid || '' = ?"],
            [worker_sid, workspace_sid],
            order,
            after,
        )
        rows = self.db.fetchall(WORKER_CHANNEL_SELECT + tail, [*values, limit])
        return [to_worker_channel(r) for r in rows]

    def worker_channel_changes(self, workspace_sid: str, seq: int) -> list[WorkerChannel]:
        rows = self.db.fetchall(_WORKER_CHANNEL_CHANGES, (workspace_sid, seq))
        return [to_worker_channel(r) for r in rows]
