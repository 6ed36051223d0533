"""Why a pending task waits: its workflow step, each target's queue and how many workers
could take it, and for one chosen worker the first comparison that keeps it out.

It asks the routing index the questions dispatch asks (queue membership, the target's
expression over task and worker, room on the task's channel) and the explain engine
(switchboard/expressions/explain.py) why an expression is false. Target expressions that
read `worker.channel.*` are evaluated without the channel figures dispatch adds, so the
count of matching workers is a lower bound for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.engine import Engine
from switchboard.engine.index import WorkspaceIndex
from switchboard.engine.work import ANY, task_document
from switchboard.expressions import Explanation
from switchboard.models import Task
from switchboard.routing import Target
from switchboard.routing.documents import known_worker_admits, target_document


@dataclass(frozen=True)
class TargetWhy:
    """One target of the task's current filter, with its worker counts."""

    position: int
    current: bool
    queue_sid: str
    queue_name: str
    expression: str | None
    timeout: int | None
    in_queue: int  # workers the queue's target_workers selects
    matching: int  # of those, the ones the target's own conditions admit
    available: int  # of those, the ones available with room on the task's channel


@dataclass(frozen=True)
class WorkerWhy:
    """What keeps one worker from the task's current target."""

    worker_sid: str
    worker_name: str
    activity_name: str
    activity_available: bool
    has_room: bool
    queue: Explanation
    target: Explanation | None
    verdict: str


@dataclass(frozen=True)
class Why:
    filter_name: str
    targets: list[TargetWhy]
    worker: WorkerWhy | None


def _current_filter(
    engine: Engine, workspace_sid: str, task: Task
) -> tuple[str, tuple[Target, ...]] | None:
    """The name and targets of the filter whose step holds the task, or None when no step
    holds it (closed, never routed, or its workflow is gone)."""
    if task.workflow_sid is None or task.filter_index is None or task.target_index is None:
        return None
    found = engine.index(workspace_sid).work.workflows.get(task.workflow_sid)
    if found is None:
        return None
    config = found[1]
    if task.filter_index < 0:
        if config.default_filter is None:
            return None
        return "default_filter", (config.default_filter,)
    if task.filter_index >= len(config.filters):
        return None
    chosen = config.filters[task.filter_index]
    return chosen.name or f"filter {task.filter_index + 1}", chosen.targets


def step_label(engine: Engine, workspace_sid: str, task: Task) -> str | None:
    """Where the workflow holds the task: "VIP, target 2 of 3", or None."""
    found = _current_filter(engine, workspace_sid, task)
    if found is None or task.target_index is None:
        return None
    name, targets = found
    return f"{name}, target {task.target_index + 1} of {len(targets)}"


def explain_wait(
    engine: Engine, workspace_sid: str, task: Task, worker_sid: str | None
) -> Why | None:
    """Why the pending task waits, or None when it is not pending in a workflow step."""
    found = _current_filter(engine, workspace_sid, task)
    if task.assignment_status != "pending" or found is None or task.target_index is None:
        return None
    name, targets = found
    index = engine.index(workspace_sid)
    now = engine.now()
    entry = index.work.tasks.get(task.sid)
    doc = entry.doc if entry is not None else task_document(task.attributes)
    rows = [
        _target_why(index, task, doc, now, position, target, position == task.target_index)
        for position, target in enumerate(targets)
    ]
    current = targets[task.target_index] if task.target_index < len(targets) else None
    worker = None
    if worker_sid and current is not None:
        worker = _worker_why(index, task, doc, now, current, worker_sid)
    return Why(name, rows, worker)


def _has_room(index: WorkspaceIndex, worker_sid: str, channel_sid: str) -> bool:
    rooms = index.work.rooms.get(worker_sid, frozenset())
    return ANY in rooms or channel_sid in rooms


def _admits(index: WorkspaceIndex, target: Target, doc: dict[str, object], now: int,
            worker_sid: str) -> bool:  # fmt: skip
    worker = index.workers[worker_sid]
    if not known_worker_admits(target, doc, worker_sid, worker.worker.friendly_name):
        return False
    if target.expression is None:
        return True
    return target.expression.matches(target_document(doc, worker.doc, now))


def _target_why(
    index: WorkspaceIndex, task: Task, doc: dict[str, object], now: int, position: int,
    target: Target, current: bool,
) -> TargetWhy:  # fmt: skip
    queue = index.queues.get(target.queue_sid)
    members = index.members(target.queue_sid) if queue is not None else set()
    matching = [sid for sid in members if _admits(index, target, doc, now, sid)]
    available = sum(1 for sid in matching if _has_room(index, sid, task.task_channel_sid))
    return TargetWhy(
        position + 1, current, target.queue_sid,
        queue.queue.friendly_name if queue else "(deleted queue)",
        target.expression.text if target.expression else None, target.timeout,
        len(members), len(matching), available,
    )  # fmt: skip


def _worker_why(
    index: WorkspaceIndex, task: Task, doc: dict[str, object], now: int, target: Target,
    worker_sid: str,
) -> WorkerWhy | None:  # fmt: skip
    entry = index.workers.get(worker_sid)
    queue = index.queues.get(target.queue_sid)
    if entry is None or queue is None:
        return None
    worker = index.current(entry.worker)
    activity = index.activities.get(worker.activity_sid)
    activity_available = activity is not None and activity.available
    room = _has_room(index, worker_sid, task.task_channel_sid)
    in_queue = queue.expression.explain(entry.doc)
    in_target = None
    if target.expression is not None:
        in_target = target.expression.explain(target_document(doc, entry.doc, now))
    if not in_queue.matched:
        verdict = f"not in queue {queue.queue.friendly_name}: {in_queue.format()}"
    elif in_target is not None and not in_target.matched:
        verdict = f"the target's expression keeps it out: {in_target.format()}"
    elif not known_worker_admits(target, doc, worker_sid, worker.friendly_name):
        verdict = "the target names another known worker"
    elif not activity_available:
        verdict = f"its activity {worker.activity_name} is not available"
    elif not room:
        verdict = "it has no room for the task's channel (capacity taken by other work)"
    else:
        verdict = "it could take the task now: it will be offered at the next routing pass"
    return WorkerWhy(
        worker_sid, worker.friendly_name, worker.activity_name or "", activity_available, room,
        in_queue, in_target, verdict,
    )  # fmt: skip
