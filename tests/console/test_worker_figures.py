"""The board's worker figures, kept up to date as workers change, always agree with counting
from scratch: workers moving between activities, changing attributes, created and deleted,
queues created, changed and deleted, one queue reading the activity itself."""

from __future__ import annotations

import json
import random
from pathlib import Path

from switchboard.console.worker_figures import WorkerFigures
from switchboard.engine import Engine
from switchboard.engine.index import WorkspaceIndex
from switchboard.engine.task_queues import QueueChanges
from switchboard.storage import Store
from switchboard.timers import ManualClock
from tests.support import ACCOUNT_SID, AUTH_TOKEN, START_MS

EXPRESSIONS = [
    "skills HAS 'support'",
    "level >= 2",
    "skills HAS 'sales' AND level < 3",
    "1 == 1",
    "activity_name == 'Available' OR level == 3",  # membership moves with the activity
]


def from_scratch(index: WorkspaceIndex) -> dict[str, tuple[int, int]]:
    free = {sid for sid, a in index.activities.items() if a.available}
    available = {sid for sid, w in index.workers.items() if w.worker.activity_sid in free}
    return {
        sid: (len(index.members(sid)), len(index.members(sid) & available)) for sid in index.queues
    }


def counted(figures: WorkerFigures, index: WorkspaceIndex) -> dict[str, tuple[int, int] | None]:
    figures.follow(index)
    for sid in figures.uncounted(index):
        figures.count(index, sid)
    return {sid: figures.queue(index, sid) for sid in index.queues}


def attributes(rng: random.Random) -> str:
    skills = rng.sample(["support", "sales", "billing"], rng.randint(0, 2))
    return json.dumps({"skills": skills, "level": rng.randint(1, 4)})


def test_the_figures_follow_every_kind_of_change(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'figures.db'}")
    engine = Engine(store, ManualClock(START_MS))
    account, _ = engine.accounts.ensure_account(ACCOUNT_SID, AUTH_TOKEN)
    ws = engine.workspaces.create_workspace(account.sid, friendly_name="Figures").sid
    # Two available activities: a move between them changes only activity-reading queues.
    engine.activities.create_activity(ws, friendly_name="Busy", available=True)
    activities = [a.sid for a in store.list_activities(ws)]
    rng = random.Random(3)
    queues = [
        engine.task_queues.create_task_queue(ws, friendly_name=f"Q{i}", target_workers=text).sid
        for i, text in enumerate(EXPRESSIONS)
    ]
    workers = [
        engine.workers.create_worker(
            ws, friendly_name=f"w{i}", activity_sid=rng.choice(activities),
            attributes=attributes(rng),
        ).sid
        for i in range(30)
    ]  # fmt: skip
    figures = WorkerFigures()
    index = engine.index(ws)
    assert counted(figures, index) == from_scratch(index)
    made = len(workers)
    for step in range(150):
        # A few changes between two looks, as between two updates of a board.
        for _ in range(rng.randint(1, 4)):
            kind = rng.random()
            if kind < 0.45:
                engine.workers.update_worker(
                    ws, rng.choice(workers), activity_sid=rng.choice(activities)
                )
            elif kind < 0.65:
                engine.workers.update_worker(ws, rng.choice(workers), attributes=attributes(rng))
            elif kind < 0.75:
                engine.workers.delete_worker(ws, workers.pop(rng.randrange(len(workers))))
            elif kind < 0.85:
                made += 1
                workers.append(
                    engine.workers.create_worker(
                        ws, friendly_name=f"w{made}", activity_sid=rng.choice(activities),
                        attributes=attributes(rng),
                    ).sid
                )  # fmt: skip
            elif kind < 0.95:
                engine.task_queues.update_task_queue(
                    ws, rng.choice(queues), QueueChanges(target_workers=rng.choice(EXPRESSIONS))
                )
            elif len(queues) > 2:
                engine.task_queues.delete_task_queue(ws, queues.pop(rng.randrange(len(queues))))
        index = engine.index(ws)
        assert counted(figures, index) == from_scratch(index), step
        by_activity = {a: 0 for a in activities}
        for entry in index.workers.values():
            by_activity[entry.worker.activity_sid] += 1
        assert {a: figures.workers_in(a) for a in activities} == by_activity
    store.close()
