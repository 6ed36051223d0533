"""Cumulative figures: counts and waits of the events in a window, and how long workers spent
in each activity, aggregated by the database (one row per group, never one per event)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from switchboard.statistics.figures import (
    RESERVATION_FIGURES,
    ActivityDuration,
    Cumulative,
    Duration,
    RoutingView,
    Split,
    Window,
    WorkersCumulative,
)
from switchboard.storage import Store
from switchboard.storage.statistics_rows import EventScope, Spread, WaitRow

TASK_FIGURES = {
    "task.created": "tasks_created",
    "task.canceled": "tasks_canceled",
    "task.completed": "tasks_completed",
    "task.deleted": "tasks_deleted",
    "task.system-deleted": "tasks_deleted",
    "workflow.timeout": "tasks_timed_out_in_workflow",
    "workflow.skipped": "tasks_timed_out_in_workflow",
}


def cumulative(
    store: Store, workspace_sid: str, window: Window, *, column: str | None = None,
    keys: Sequence[str] | None = None, channel: str | None = None,
    thresholds: Sequence[int] = (),
) -> dict[str | None, Cumulative]:  # fmt: skip
    """Figures of the workspace (`column` None, key None), or of each queue or workflow
    (`column` task_queue_sid or workflow_sid) among `keys`."""
    scope = EventScope(workspace_sid, window.start, window.end, column, keys, channel)
    wanted: list[str | None] = [None] if column is None else list(keys or ())
    result = {key: Cumulative(window) for key in wanted}
    in_queue = column == "task_queue_sid"
    names = {**RESERVATION_FIGURES, **TASK_FIGURES}
    names["task-queue.entered" if in_queue else "workflow.entered"] = "tasks_entered"
    if not in_queue:
        names["task-queue.moved"] = "tasks_moved"
    for (key, event_type), n in store.statistics.event_counts(scope, list(names)).items():
        if key in result:
            counts = result[key].counts
            counts[names[event_type]] = counts.get(names[event_type], 0) + n
    if in_queue:
        for key, n in store.statistics.moved_out_counts(scope).items():
            if key in result:
                result[key].counts["tasks_moved"] = n
    for row in store.statistics.wait_rows(scope, thresholds, in_queue=in_queue):
        if row.key in result:
            _add_waits(result[row.key], row, thresholds, in_queue)
    if thresholds:
        for figures in result.values():
            splits = figures.split_by_wait_time or {}
            figures.split_by_wait_time = {t: splits.get(t, Split()) for t in thresholds}
    return result


def _add_waits(
    figures: Cumulative, row: WaitRow, thresholds: Sequence[int], in_queue: bool
) -> None:
    accepted = row.event_type == "reservation.accepted"
    if accepted:
        figures.wait_duration_until_accepted = Duration.of(row.waits)
        if in_queue:
            figures.wait_duration_in_queue_until_accepted = Duration.of(row.in_queue)
    else:
        figures.wait_duration_until_canceled = Duration.of(row.waits)
    if not thresholds:
        return
    splits = figures.split_by_wait_time = figures.split_by_wait_time or {}
    for threshold, below in zip(thresholds, row.below, strict=True):
        split = splits.get(threshold, Split())
        above = row.waits.count - below
        if accepted:
            splits[threshold] = Split(split.below_canceled, below, split.above_canceled, above)
        else:
            splits[threshold] = Split(below, split.below_accepted, above, split.above_accepted)


def workers_cumulative(
    store: Store, view: RoutingView, workspace_sid: str, window: Window, *,
    workers: Collection[str] | None = None, channel: str | None = None,
) -> WorkersCumulative:  # fmt: skip
    """Reservations of the workers (None: every worker, deleted ones included) and the time
    they spent in each activity within the window."""
    keys = None if workers is None else sorted(workers)
    column = None if workers is None else "worker_sid"
    scope = EventScope(workspace_sid, window.start, window.end, column, keys, channel)
    figures = WorkersCumulative(window)
    counted = store.statistics.event_counts(scope, list(RESERVATION_FIGURES))
    for (key, event_type), n in counted.items():
        if workers is None or key in workers:
            name = RESERVATION_FIGURES[event_type]
            figures.counts[name] = figures.counts.get(name, 0) + n
    spreads = _activity_spreads(store, view, workspace_sid, window, workers)
    activities = sorted(view.activities.values(), key=lambda a: (a.date_created, a.sid))
    figures.activity_durations = [
        ActivityDuration(a.sid, a.friendly_name, Duration.of(spreads.get(a.sid, Spread())))
        for a in activities
    ]
    return figures


def _activity_spreads(
    store: Store, view: RoutingView, workspace_sid: str, window: Window,
    workers: Collection[str] | None,
) -> dict[str, Spread]:  # fmt: skip
    """Activity SID → the stints spent in it within the window: those closed by an activity
    change (from events), and each worker's current one up to the window's end."""
    keys = None if workers is None else sorted(workers)
    spreads: dict[str, Spread] = {}
    stints = store.statistics.activity_stints(workspace_sid, window.start, window.end, workers=keys)
    for row in stints:
        if workers is None or row.key in workers:
            spreads[row.activity_sid] = _merge(spreads.get(row.activity_sid), row.stints)
    holders = view.workers
    sids = holders.keys() if workers is None else workers
    for sid in sids:
        holder = holders.get(sid)
        if holder is None:
            continue
        worker = holder.worker
        length = window.end - max(worker.date_status_changed, window.start)
        if length > 0:
            stint = Spread(1, length, length, length)
            spreads[worker.activity_sid] = _merge(spreads.get(worker.activity_sid), stint)
    return spreads


def _merge(a: Spread | None, b: Spread) -> Spread:
    if a is None or not a.count:
        return b
    if not b.count:
        return a
    return Spread(
        a.count + b.count, a.total + b.total, min(a.minimum, b.minimum), max(a.maximum, b.maximum)
    )
