"""Real-time figures: workers by activity from the routing index, open tasks from the tasks
table (counted by the database, one row per status and priority)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence

from switchboard.statistics.figures import ActivityCount, RealTime, RoutingView
from switchboard.storage import Store
from switchboard.storage.statistics_rows import TaskGroup

_WAITING = ("pending", "reserved")


def activity_counts(view: RoutingView, worker_sids: Iterable[str] | None) -> list[ActivityCount]:
    """Every activity of the workspace (oldest first) with how many of the workers are in it
    (all workers when `worker_sids` is None)."""
    workers = view.workers
    sids = workers.keys() if worker_sids is None else worker_sids
    counter = Counter(workers[s].worker.activity_sid for s in sids if s in workers)
    activities = sorted(view.activities.values(), key=lambda a: (a.date_created, a.sid))
    return [ActivityCount(a.sid, a.friendly_name, counter.get(a.sid, 0)) for a in activities]


def _available(view: RoutingView, worker_sids: Collection[str]) -> int:
    available = {sid for sid, a in view.activities.items() if a.available}
    workers = view.workers
    return sum(
        1 for s in worker_sids if s in workers and workers[s].worker.activity_sid in available
    )


def _task_figures(
    store: Store, workspace_sid: str, now: int, groups: Sequence[TaskGroup],
    column: str | None, channel: str | None,
) -> RealTime:  # fmt: skip
    """tasks_by_status, tasks_by_priority, total_tasks and the longest waiting task (pending
    or reserved, by creation; grouped by queue also by queue entry) of one group key."""
    figures = RealTime()
    priorities: Counter[int] = Counter()
    for group in groups:
        figures.tasks_by_status[group.status] += group.count
        priorities[group.priority] += group.count
        figures.total_tasks += group.count
    figures.tasks_by_priority = {str(p): priorities[p] for p in sorted(priorities)}
    waiting = [g for g in groups if g.status in _WAITING]
    if not waiting:
        return figures
    oldest = min(g.oldest_created for g in waiting)
    sids = [
        store.statistics.first_task_created(workspace_sid, g, column=column, channel=channel)
        for g in waiting
        if g.oldest_created == oldest
    ]
    figures.longest_task_waiting_age = max(now - oldest, 0) // 1000
    figures.longest_task_waiting_sid = min((s for s in sids if s), default=None)
    entered = [g.oldest_entered for g in waiting if g.oldest_entered is not None]
    if column == "task_queue_sid" and entered and groups[0].key is not None:
        first = min(entered)
        figures.longest_relative_task_age_in_queue = max(now - first, 0) // 1000
        figures.longest_relative_task_sid_in_queue = store.statistics.first_task_entered(
            groups[0].key, first, channel=channel
        )
    return figures


def _tasks_by_key(
    store: Store, workspace_sid: str, now: int, *, column: str | None = None,
    keys: Sequence[str] | None = None, channel: str | None = None,
) -> dict[str | None, RealTime]:  # fmt: skip
    grouped: dict[str | None, list[TaskGroup]] = {}
    found = store.statistics.open_task_groups(
        workspace_sid, column=column, keys=keys, channel=channel
    )
    for group in found:
        grouped.setdefault(group.key, []).append(group)
    return {
        key: _task_figures(store, workspace_sid, now, groups, column, channel)
        for key, groups in grouped.items()
    }


def workspace_real_time(
    store: Store, view: RoutingView, workspace_sid: str, now: int, channel: str | None
) -> RealTime:
    figures = _tasks_by_key(store, workspace_sid, now, channel=channel).get(None) or RealTime()
    figures.activity_statistics = activity_counts(view, None)
    figures.total_workers = len(view.workers)
    return figures


def queue_real_time(
    store: Store, view: RoutingView, workspace_sid: str, now: int, queue_sids: Sequence[str],
    channel: str | None,
) -> dict[str, RealTime]:  # fmt: skip
    """Figures of each queue; every SID must be a queue of this workspace."""
    by_queue = _tasks_by_key(
        store, workspace_sid, now, column="task_queue_sid", keys=queue_sids, channel=channel
    )
    result = {}
    for sid in queue_sids:
        figures = by_queue.get(sid) or RealTime()
        members = view.members(sid)
        figures.activity_statistics = activity_counts(view, members)
        figures.total_eligible_workers = len(members)
        figures.total_available_workers = _available(view, members)
        result[sid] = figures
    return result


def zero_real_time(view: RoutingView) -> RealTime:
    """All-zero figures, every activity listed with no workers (a queue SID the bulk request
    names that is not this workspace's)."""
    figures = RealTime()
    figures.activity_statistics = activity_counts(view, ())
    return figures


def workflow_real_time(
    store: Store, workspace_sid: str, now: int, workflow_sid: str, channel: str | None
) -> RealTime:
    by_workflow = _tasks_by_key(
        store, workspace_sid, now, column="workflow_sid", keys=[workflow_sid], channel=channel
    )
    return by_workflow.get(workflow_sid) or RealTime()


def workers_real_time(view: RoutingView, worker_sids: Collection[str] | None) -> RealTime:
    """total_workers and activity_statistics of the given workers (None: every worker)."""
    figures = RealTime()
    figures.activity_statistics = activity_counts(view, worker_sids)
    figures.total_workers = len(view.workers) if worker_sids is None else len(worker_sids)
    return figures
