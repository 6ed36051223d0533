"""What every engine operation shares: the store, the clock, limits and the routing indexes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from switchboard.engine.index import WorkspaceIndex
from switchboard.engine.tx import Tx
from switchboard.errors import InvalidParameter, not_found
from switchboard.models import MAX_FRIENDLY_NAME, Clock, Workspace
from switchboard.storage import Store

log = logging.getLogger("switchboard.engine")


@dataclass(frozen=True)
class Limits:
    max_workers_per_workspace: int = 15_000
    # Twilio's 500,000 tasks per workspace (any state), enforced only with --limits twilio:
    # counting costs a COUNT(*) per created task.
    max_tasks_per_workspace: int | None = None
    # How long a completed or canceled task is kept before the tick deletes it (Twilio's
    # retention, with --limits twilio); None keeps closed tasks until deleted through the API.
    closed_task_retention_ms: int | None = None


class EngineCore:
    """What every part of the engine shares: the store, the clock, limits, the routing indexes
    (one per workspace, kept in memory across writes), the write itself (`writing`) and who
    hears of committed writes (`commit_listeners`)."""

    def __init__(self, store: Store, clock: Clock, limits: Limits | None = None) -> None:
        self.store = store
        self.clock = clock
        self.limits = limits or Limits()
        self._indexes: dict[str, WorkspaceIndex] = {}
        # Change numbers a caller read for `index` (see `as_of`), by workspace.
        self._as_of: dict[str, int] = {}
        # Called with each committed write (the tick loop and callback sender wake on them).
        self.commit_listeners: list[Callable[[Tx], None]] = []

    def now(self) -> int:
        return self.clock.now_ms()

    def index(self, workspace_sid: str) -> WorkspaceIndex:
        """The workspace's routing index, caught up with the database."""
        index = self._indexes.get(workspace_sid)
        if index is None:
            index = self._indexes[workspace_sid] = WorkspaceIndex(workspace_sid)
        index.catch_up(self.store, upto=self._as_of.get(workspace_sid))
        return index

    @contextmanager
    def as_of(self, workspace_sid: str, seq: int) -> Iterator[None]:
        """Inside the block, `index` catches the workspace's index up to change number `seq`,
        which the caller read, instead of reading it: on PostgreSQL the event loop's handlers
        read it off the loop (`Call.index_as_of`), and an index already current then costs
        the loop no round trip."""
        before = self._as_of.get(workspace_sid)
        self._as_of[workspace_sid] = seq
        try:
            yield
        finally:
            if before is None:
                del self._as_of[workspace_sid]
            else:
                self._as_of[workspace_sid] = before

    def warm_up(self) -> int:
        """Build every workspace's index now rather than on its first request."""
        sids = self.store.all_workspace_sids()
        for sid in sids:
            self.index(sid)
        return len(sids)

    @contextmanager
    def writing(
        self, workspace_sid: str, *, at: int | None = None, batch: bool = False
    ) -> Iterator[Tx]:
        """One write under the workspace lock, with the index caught up inside the lock.

        Operations in the block keep the index in step with the rows they write (and set
        `tx.dirty` when they first touch it); the block's events are written at its end.
        `at` stamps the operation at a past moment (a deadline) instead of now; `batch`
        marks a large write (see `Store.write`).
        """
        tx: Tx | None = None
        try:
            with self.store.write_workspace(workspace_sid, batch=batch) as (seq, found):
                if found is None:
                    raise not_found(f"/Workspaces/{workspace_sid}")
                ws = found
                index = self._indexes.get(workspace_sid)
                if index is None:
                    index = self._indexes[workspace_sid] = WorkspaceIndex(workspace_sid)
                index.catch_up(self.store, upto=seq - 1)
                index.set_multi_task(ws.multi_task_enabled)
                tx = Tx(ws, seq, self.now() if at is None else at, index)
                yield tx
                if len(tx.events) > tx.sent:
                    self.store.events.insert(tx.events[tx.sent :])
        except BaseException:
            # The COMMIT itself may fail (a lost connection): the index then holds changes
            # the database may not have kept, as surely as when the block failed.
            if tx is not None and tx.dirty:
                self.drop_index(workspace_sid)
            raise
        assert tx is not None  # the block ran: a write that yields nothing has raised
        if tx.dirty:
            index.seq = seq
        self.announce(tx)

    def announce(self, tx: Tx) -> None:
        """Have the commit listeners hear of a write once it is committed: with group commit
        (SQLite in the server) that is a moment later, with the others of its group."""
        self.store.after_commit(lambda failure: self._committed(tx, failure))

    def send_ahead(self, tx: Tx) -> None:
        """In a pipelined write (PostgreSQL, a tick's batch), send the rows and events written
        so far, so the database stores them while the write goes on; elsewhere, nothing."""
        if self.store.send_ahead(tx.events[tx.sent :]):
            tx.sent = len(tx.events)

    def _committed(self, tx: Tx, failure: BaseException | None) -> None:
        if failure is None:
            self.after_commit(tx)
        else:
            # The group's writes were all rolled back: every index may hold some of them.
            log.error("a group commit failed; routing indexes are rebuilt: %s", failure)
            self._indexes.clear()

    def after_commit(self, tx: Tx) -> None:
        """Tell every listener about a committed write; a listener never fails the write."""
        for listener in self.commit_listeners:
            try:
                listener(tx)
            except Exception:
                log.exception("a commit listener failed")

    def drop_index(self, workspace_sid: str) -> None:
        self._indexes.pop(workspace_sid, None)

    def workspace(self, workspace_sid: str) -> Workspace:
        ws = self.store.get_workspace(workspace_sid)
        if ws is None:
            raise not_found(f"/Workspaces/{workspace_sid}")
        return ws


def check_friendly_name(name: str, parameter: str = "FriendlyName") -> str:
    """Names are 1-64 characters and not only spaces."""
    if not name.strip():
        raise InvalidParameter(f"{parameter} must not be empty")
    if len(name) > MAX_FRIENDLY_NAME:
        raise InvalidParameter(
            f"{parameter} is {len(name)} characters long; at most {MAX_FRIENDLY_NAME} are allowed"
        )
    return name


def version_matches(if_match: str | None, version: int) -> bool:
    """Whether an If-Match header admits this version (Workers, Tasks, Reservations).

    Absent or blank means "any version"; `3`, `"3"` and `W/"3"` all name version 3; `*`
    matches any; a comma-separated list matches if one of its entries does. Anything else
    names no version, so it never matches."""
    if if_match is None or not if_match.strip():
        return True
    for tag in if_match.split(","):
        tag = tag.strip().removeprefix("W/").strip('"')
        if tag == "*" or tag == str(version):
            return True
    return False
