"""The queue board of one workspace: per queue, what waits and who could take it.

Task figures come from the database in one GROUP BY (storage.board_rows); worker figures
from the engine's routing index, which keeps each queue's members current once it has
counted them. Counting is the one costly step (a queue's expression over every worker: about
12 ms for 15,000 workers, 6 s for 500 queues), and the event loop serves every request, so a
board never counts inline: a queue not yet counted shows its worker figures as unknown
(None), and `count_members` counts them in the background a queue at a time.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from switchboard.engine import Engine
from switchboard.storage import Store
from switchboard.storage.board_rows import ActivityWorkers

log = logging.getLogger("switchboard.console")

WAITING_SHOWN = 50  # tasks listed under the board, longest waiting first
PER_QUEUE_SHOWN = 10


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
    # None: the queue's members are not counted yet (see count_members).
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
    workspace_sid: str
    workspace_name: str
    now_ms: int
    queues: list[QueueRow]
    activities: list[ActivityWorkers]
    waiting_tasks: list[WaitingTask]

    def to_dict(self) -> dict[str, Any]:
        """The board as the page's script receives it (server-sent events)."""
        return asdict(self)

    @property
    def complete(self) -> bool:
        """Whether every queue's workers are counted."""
        return all(q.eligible is not None for q in self.queues)


def build_board(store: Store, engine: Engine, workspace_sid: str, name: str) -> Board:
    now = engine.now()
    index = engine.index(workspace_sid)
    rows = {
        sid: QueueRow(sid, entry.queue.friendly_name, entry.queue.target_workers)
        for sid, entry in sorted(
            index.queues.items(), key=lambda item: (item[1].queue.friendly_name.lower(), item[0])
        )
    }
    oldest: dict[str, int] = {}
    priorities: dict[str, dict[int, int]] = {}
    for group in store.board.queue_tasks(workspace_sid):
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
    # Available as TaskRouter's queue statistics count it: in an available activity, whatever
    # work the worker already has (the task page tells room on a channel apart).
    free = {a.sid for a in index.activities.values() if a.available}
    available = {sid for sid, w in index.workers.items() if w.worker.activity_sid in free}
    for row in rows.values():
        members = index.queues[row.sid].members
        if members is not None:
            row.eligible = len(members)
            row.available = len(available & members)
        row.waiting_by_priority = sorted(priorities.get(row.sid, {}).items(), reverse=True)
        if row.sid in oldest:
            row.longest_wait_s = max(now - oldest[row.sid], 0) // 1000
    return Board(
        workspace_sid, name, now, list(rows.values()),
        store.board.activity_workers(workspace_sid), _waiting_tasks(engine, workspace_sid, rows),
    )  # fmt: skip


def _waiting_tasks(
    engine: Engine, workspace_sid: str, rows: dict[str, QueueRow]
) -> list[WaitingTask]:
    """The first pending tasks of each queue (in routing order), longest waiting first."""
    index = engine.index(workspace_sid)
    now = engine.now()
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


def uncounted(engine: Engine, workspace_sid: str) -> bool:
    """Whether some queue's members are not counted yet."""
    return any(q.members is None for q in engine.index(workspace_sid).queues.values())


async def count_members(engine: Engine, workspace_sid: str) -> None:
    """Count every queue's members, one queue per turn of the event loop, so requests are
    served in between. A failure (the database gone for a moment) is logged; the next board
    view starts counting again."""
    try:
        for queue_sid in list(engine.index(workspace_sid).queues):
            index = engine.index(workspace_sid)
            entry = index.queues.get(queue_sid)
            if entry is not None and entry.members is None:
                index.members(queue_sid)
                await asyncio.sleep(0)
    except Exception:
        log.exception("counting the queue members of workspace %s failed", workspace_sid)
