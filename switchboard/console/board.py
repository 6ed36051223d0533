"""The queue board of one workspace: per queue, what waits and who could take it.

Task figures come from the database in one GROUP BY (storage.board_rows); worker figures
from the routing index through `WorkerFigures`, which keeps them up to date as workers
change. Counting a queue the first time is the one costly step (its expression over every
worker: about 12 ms for 15,000 workers, 6 s for 500 queues), and the event loop serves every
request, so a board never counts inline: a queue not yet counted shows its worker figures as
unknown (None), and `Boards` counts them in the background, a few milliseconds at a time.

`Boards` also keeps each workspace's last board: the page, its data and every live stream
watching it share one build while the workspace has not changed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from switchboard.console.worker_figures import WorkerFigures
from switchboard.engine import Engine
from switchboard.engine.index import WorkspaceIndex
from switchboard.storage import Store
from switchboard.storage.board_rows import ActivityWorkers, QueueTasks

log = logging.getLogger("switchboard.console")

WAITING_SHOWN = 50  # tasks listed under the board, longest waiting first
PER_QUEUE_SHOWN = 10
# A board is built again after this long even when nothing changed, so waiting ages move on.
FRESH_SECONDS = 1.0
# Background counting holds the event loop this long at most before letting requests in
# (one never-counted queue can take longer: its expression over every worker).
COUNT_SLICE_SECONDS = 0.005


@dataclass
class QueueRow:
    sid: str
    name: str
    target_workers: str
    # (priority, pending tasks), highest priority first.
    waiting_by_priority: list[tuple[int, int]] = field(default_factory=list)
    waiting: int = 0
    longest_wait_s: int | None = None
    reserved: int = 0
    assigned: int = 0
    wrapping: int = 0
    # None: the queue's members are not counted yet (see Boards).
    eligible: int | None = None
    available: int | None = None


@dataclass
class WaitingTask:
    sid: str
    queue_sid: str
    queue_name: str
    priority: int
    age_s: int


@dataclass
class Board:
    """What the page shows; the live stream sends it as JSON as it is (orjson encodes
    dataclasses itself, far faster than `dataclasses.asdict`)."""

    workspace_sid: str
    workspace_name: str
    now_ms: int
    queues: list[QueueRow]
    activities: list[ActivityWorkers]
    waiting_tasks: list[WaitingTask]

    @property
    def complete(self) -> bool:
        """Whether every queue's workers are counted."""
        return all(q.eligible is not None for q in self.queues)


def build_board(
    engine: Engine,
    figures: WorkerFigures,
    workspace_sid: str,
    name: str,
    queue_tasks: list[QueueTasks],
) -> Board:
    """The board from the routing index and `queue_tasks` (`store.board.queue_tasks`)."""
    now = engine.now()
    index = engine.index(workspace_sid)
    figures.follow(index)
    figures.count_known(index, COUNT_SLICE_SECONDS)
    rows = {
        sid: QueueRow(sid, entry.queue.friendly_name, entry.queue.target_workers)
        for sid, entry in sorted(
            index.queues.items(), key=lambda item: (item[1].queue.friendly_name.lower(), item[0])
        )
    }
    oldest: dict[str, int] = {}
    priorities: dict[str, dict[int, int]] = {}
    for group in queue_tasks:
        row = rows.get(group.task_queue_sid or "")
        if row is None:
            continue
        if group.status == "pending":
            row.waiting += group.count
            by = priorities.setdefault(row.sid, {})
            by[group.priority] = by.get(group.priority, 0) + group.count
        elif group.status == "reserved":
            row.reserved += group.count
        elif group.status == "assigned":
            row.assigned += group.count
        else:
            row.wrapping += group.count
        if group.status in ("pending", "reserved"):
            oldest[row.sid] = min(oldest.get(row.sid, group.oldest_created), group.oldest_created)
    for row in rows.values():
        # Available as TaskRouter's queue statistics count it: in an available activity,
        # whatever work the worker already has (the task page tells room on a channel apart).
        counted = figures.queue(index, row.sid)
        if counted is not None:
            row.eligible, row.available = counted
        row.waiting_by_priority = sorted(priorities.get(row.sid, {}).items(), reverse=True)
        if row.sid in oldest:
            row.longest_wait_s = max(now - oldest[row.sid], 0) // 1000
    return Board(
        workspace_sid, name, now, list(rows.values()), _activities(index, figures),
        _waiting_tasks(index, now, rows),
    )  # fmt: skip


def _activities(index: WorkspaceIndex, figures: WorkerFigures) -> list[ActivityWorkers]:
    """Every activity (oldest first) and how many workers are in it."""
    ordered = sorted(index.activities.values(), key=lambda a: (a.date_created, a.sid))
    return [
        ActivityWorkers(a.sid, a.friendly_name, a.available, figures.workers_in(a.sid))
        for a in ordered
    ]


def _waiting_tasks(index: WorkspaceIndex, now: int, rows: dict[str, QueueRow]) -> list[WaitingTask]:
    """The first pending tasks of each queue (in routing order), longest waiting first."""
    found = []
    for queue_sid, waiting in index.work.waiting.items():
        row = rows.get(queue_sid)
        if row is None:
            continue
        for _, task_sid in waiting[:PER_QUEUE_SHOWN]:
            entry = index.work.tasks.get(task_sid)
            if entry is None:
                continue
            task = entry.task
            age = max(now - task.date_created, 0) // 1000
            found.append(WaitingTask(task_sid, queue_sid, row.name, task.priority, age))
    found.sort(key=lambda t: (-t.age_s, t.sid))
    return found[:WAITING_SHOWN]


@dataclass
class _Built:
    board: Board
    seq: int  # the index's change number it was built at
    at: float  # monotonic seconds


class Boards:
    """Each workspace's board, its worker figures and their background counting.

    `board()` answers the last board while the workspace has not changed (and for at most
    FRESH_SECONDS, so ages move on); queues it could not count are counted in the background,
    and `on_counted(workspace_sid)` is told when that is done (the live streams wake)."""

    def __init__(self, store: Store, engine: Engine, on_counted: Callable[[str], None]) -> None:
        self.store = store
        self.engine = engine
        self.on_counted = on_counted
        self._figures: dict[str, WorkerFigures] = {}
        self._built: dict[str, _Built] = {}
        self._counting: dict[str, asyncio.Task[None]] = {}

    async def board(self, workspace_sid: str, name: str) -> Board:
        """The board now (built again only when the workspace changed or it grew stale). Its
        task figures are read through `Store.read` (off the event loop on PostgreSQL)."""
        store = self.store
        with self._as_of(workspace_sid, await self._change_seq(workspace_sid)):
            index = self.engine.index(workspace_sid)
        built = self._built.get(workspace_sid)
        fresh = built is not None and time.monotonic() - built.at < FRESH_SECONDS
        if built is not None and fresh and built.seq == index.seq and built.board.complete:
            return built.board
        seq, queue_tasks = await store.read(self._read_tasks, workspace_sid)
        figures = self._figures.setdefault(workspace_sid, WorkerFigures())
        with self._as_of(workspace_sid, seq):
            board = build_board(self.engine, figures, workspace_sid, name, queue_tasks)
            # The index the board was built from: it may have caught up during the read.
            built_seq = self.engine.index(workspace_sid).seq
        self._built[workspace_sid] = _Built(board, built_seq, time.monotonic())
        if not board.complete and workspace_sid not in self._counting:
            counting = asyncio.get_running_loop().create_task(self._count(workspace_sid))
            self._counting[workspace_sid] = counting
            counting.add_done_callback(lambda _: self._counted(workspace_sid))
        return board

    async def _change_seq(self, workspace_sid: str) -> int | None:
        """The workspace's change number, read through `Store.read` (on PostgreSQL off the
        event loop), for the index to catch up to."""
        return await self.store.read(self.store.workspace_change_seq, workspace_sid)

    def _as_of(self, workspace_sid: str, seq: int | None) -> AbstractContextManager[None]:
        """`engine.index` inside the block catches up to `seq` without reading it on the
        loop (`Engine.as_of`); with no number (no such workspace) it reads as it always does."""
        return nullcontext() if seq is None else self.engine.as_of(workspace_sid, seq)

    def _read_tasks(self, workspace_sid: str) -> tuple[int | None, list[QueueTasks]]:
        """The change number and then the task figures: the index caught up to that number
        holds every worker the figures were counted beside, or later ones."""
        seq = self.store.workspace_change_seq(workspace_sid)
        return seq, self.store.board.queue_tasks(workspace_sid)

    def forget(self, workspace_sid: str) -> None:
        """Drop what is kept of a workspace (it was deleted)."""
        self._figures.pop(workspace_sid, None)
        self._built.pop(workspace_sid, None)

    def _counted(self, workspace_sid: str) -> None:
        self._counting.pop(workspace_sid, None)
        self._built.pop(workspace_sid, None)
        self.on_counted(workspace_sid)

    async def _count(self, workspace_sid: str) -> None:
        """Count every uncounted queue, COUNT_SLICE_SECONDS of work per turn of the event
        loop, so requests are served in between. A failure (the database gone for a moment)
        is logged; the next board starts counting again."""
        try:
            while True:
                with self._as_of(workspace_sid, await self._change_seq(workspace_sid)):
                    index = self.engine.index(workspace_sid)
                figures = self._figures.setdefault(workspace_sid, WorkerFigures())
                # Up to date before counting, so each count starts from the current workers.
                figures.follow(index)
                left = figures.uncounted(index)
                if not left:
                    return
                started = time.perf_counter()
                for queue_sid in left:
                    figures.count(index, queue_sid)
                    if time.perf_counter() - started > COUNT_SLICE_SECONDS:
                        break
                await asyncio.sleep(0)
        except Exception:
            log.exception("counting the queue members of workspace %s failed", workspace_sid)
