"""Where a waiting task is: the target of its workflow step, or the step of its own that a task
routed to a worker, or transferred, waits in.

A task created with a worker `RoutingTarget` (direct routing) skips its workflow: it waits in
the queue it was given, in a step of its own (`direct_target`), offered to that one worker
only. Its `step_deadline` is the time it has to get that reservation; missing it, or the
worker declining the one offer, cancels the task (docs/decisions.md). A task being
transferred (engine/transfers.py) waits the same way: for a worker, as a direct task of that
worker; for a queue, in that queue with no condition but its members'.
"""

from __future__ import annotations

import functools

from switchboard.engine.tx import Tx
from switchboard.models import Task
from switchboard.routing import Step, Target


@functools.lru_cache(maxsize=1024)
def direct_target(queue_sid: str) -> Target:
    """The step a directly routed task waits in: its queue and no condition of a workflow's.
    `Offers` holds it to its one worker (`_pick_direct`, `_best_task_for`), so that `_fits`,
    run for every candidate of an ordinary task, has nothing more to test."""
    return Target(queue_sid, None, None, None, (), None, None, None)


def target_of(tx: Tx, task: Task) -> Target | None:
    """The target of the step the task waits in; None when it waits in none."""
    flow = tx.index.work.workflows.get(task.workflow_sid or "")
    if flow is None or task.filter_index is None or task.target_index is None:
        # Only a task in no workflow step can be a direct one (or one transferred to a
        # queue, which waits there for any member): routed tasks pay nothing.
        if task.task_queue_sid is not None and (
            task.routing_target is not None or task.transfer_sid is not None
        ):
            return direct_target(task.task_queue_sid)
        return None
    config = flow.config
    if task.filter_index < 0:
        return config.default_filter
    if task.filter_index >= len(config.filters):
        return None
    targets = config.filters[task.filter_index].targets
    return targets[task.target_index] if task.target_index < len(targets) else None


def step_of(tx: Tx, task: Task) -> Step | None:
    """The step the task waits in, as `routing.next_step` takes it."""
    target = target_of(tx, task)
    if target is None or task.target_index is None:
        return None
    filter_index = None if task.filter_index is None or task.filter_index < 0 else task.filter_index
    return Step(filter_index, task.target_index, target, task.step_deadline)
