"""Statistics: real-time figures from current state, cumulative figures from the event log.

What each figure means (also in docs/decisions.md, "Statistics"):

Real time, at the moment of the request:
- open tasks are those pending, reserved, assigned or wrapping (completed and canceled tasks
  kept for a while are not counted); `total_tasks`, `tasks_by_status` (all four keys, always)
  and `tasks_by_priority` ({"<priority>": count}, only priorities present) count them;
- the longest waiting task is the open task created first among those still waiting (pending
  or reserved); its age is whole seconds since creation; ties go to the smaller SID; none
  waiting: age 0 and SID null. `longest_relative_task_*_in_queue` is the same measured from
  when the task entered the queue;
- `activity_statistics` lists every activity of the workspace, oldest first, with how many of
  the workers in scope are in it (a queue's scope: the workers its target_workers selects);
  `total_eligible_workers` is that many, `total_available_workers` those of them whose
  activity is available (they may be busy); `total_workers` counts the workspace's workers;
- `TaskChannel` restricts the task figures to tasks of that channel; worker figures do not
  depend on it (activities are not per channel).

Cumulative, over the events dated in the window [start, end] (both included):
- counts are events: `reservations_created|accepted|rejected|timed_out|canceled|rescinded`,
  `tasks_created|canceled|completed`, `tasks_deleted` (task.deleted, task.system-deleted),
  `tasks_timed_out_in_workflow` (workflow.timeout and workflow.skipped: the task ran out of
  steps and was canceled), `tasks_entered` (a queue: task-queue.entered; a workflow:
  workflow.entered; a task that enters twice counts twice), `tasks_moved` (task-queue.moved;
  for a queue, the tasks that moved from it to another queue);
- a queue's or workflow's events are those recorded with its SID (a reservation's queue, the
  queue a task was in when canceled, completed or deleted); `TaskChannel` keeps the events of
  tasks of that channel;
- `wait_duration_until_accepted` {avg, min, max, total}: for each reservation accepted in the
  window, the time from its task's creation to the acceptance; `wait_duration_until_canceled`
  likewise for each task canceled; `wait_duration_in_queue_until_accepted` (queues) from when
  the task entered the reservation's queue. Whole seconds, halves rounded up (avg from the
  exact total); none: all 0. `avg_task_acceptance_time` is the accepted avg;
- `split_by_wait_time` {"<T>": {"below": {...}, "above": {...}}}: tasks canceled and
  reservations accepted whose wait (from creation) was at most T seconds (below) or more
  (above), for each threshold asked for; null when none was;
- `activity_durations`, one entry per activity of the workspace: the stints workers spent in
  it, clipped to the window: each worker.activity.update closes a stint of the previous
  activity (its worker_time_in_previous_activity_ms), and each current worker's present
  activity counts up to the window's end. avg, min and max are per stint, total their sum,
  whole seconds. A deleted worker's last stint (up to its deletion) is not counted.
"""

from switchboard.statistics.cumulative import cumulative, workers_cumulative
from switchboard.statistics.figures import (
    ActivityCount,
    ActivityDuration,
    Cumulative,
    Duration,
    RealTime,
    RoutingView,
    Split,
    Window,
    WorkersCumulative,
)
from switchboard.statistics.realtime import (
    queue_real_time,
    workers_real_time,
    workflow_real_time,
    workspace_real_time,
    zero_real_time,
)

__all__ = [
    "ActivityCount",
    "ActivityDuration",
    "Cumulative",
    "Duration",
    "RealTime",
    "RoutingView",
    "Split",
    "Window",
    "WorkersCumulative",
    "cumulative",
    "queue_real_time",
    "workers_cumulative",
    "workers_real_time",
    "workflow_real_time",
    "workspace_real_time",
    "zero_real_time",
]
