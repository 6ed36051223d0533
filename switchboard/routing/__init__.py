"""Pure routing decisions: workflow configurations, which target holds a task, sort orders.

No I/O, no clock, no storage: time arrives as `now_ms` / `created_ms` (ms since the epoch, UTC).

Workflow semantics implemented here (behaviour.md §2; decisions on its UNSURE points marked *):

* Document: {"task_routing": {"filters": [...], "default_filter": {...}}}. `filters` is optional
  (only a default_filter = one plain queue); a filter has `expression`, non-empty `targets` and
  an optional `filter_friendly_name` (*also spelled `friendly_name`, as Twilio's older helper
  libraries wrote it). A JSON null counts as an absent key. *Unknown keys anywhere are rejected
  with the list of allowed ones: a misspelt "time_out" would otherwise silently change routing.
* Target: `queue` (a WQ SID; later targets of a filter inherit the previous one's), `priority`
  (0..2^31-1) and `timeout` (seconds, 1..2^31-1) as 10, 10.0 or "10", `expression` (keys must
  start with task., worker. or taskrouter.), `order_by`, `skip_if` (keys workers.available,
  workers.unavailable, workers.<WA SID>), one of `known_worker_sid` / `known_worker_friendly_name`
  (a path task.<key>). *`taskrouter.` keys must be one of the four time variables.
* *default_filter takes every target key but `timeout` (priority, expression, order_by, skip_if,
  known worker all apply); the legacy spelling {"task_queue_sid": "WQ…"} is accepted for `queue`.
* Filters are tried in order; the first match wins. Inside it targets apply in order; a target
  without a timeout is terminal. Target deadlines are cumulative on the task's age: target k of a
  filter expires at created + sum(timeouts 0..k) (a terminal target adds 0). *This holds in a
  later filter too, so a task arriving there late passes over targets already expired (`settle`).
* After a timeout past the last target: the next LATER matching filter, else None (the engine
  cancels the task: workflow.timeout); the default_filter never catches a timed-out task.
  After a skip past the last target: the next later matching filter, else the default_filter,
  else None (workflow.skipped). *Only the last move decides (timed out of filter 0, then skipped
  out of filter 1 → default_filter). Nothing follows the default_filter.
* *Reservation timeouts never advance the target: routing only moves on deadlines and skips.
* *A task matching no filter with no default_filter: `first_step` returns None; the engine
  decides what that means.
* Time variables are UTC (*no time zone variable exists): currentTime int HHMM, currentHour "HH",
  currentMin "MM", dayOfWeek Mon..Sun. *They replace a task attribute named `taskrouter`.
* Known worker: the path reads the task's attributes; a missing, null or non-string value admits
  no worker (the task waits for timeout, skip or TTL). *Friendly names match case-insensitively.
* order_by: per clause, workers with a number come first whatever the direction; *integers and
  finite floats are numbers, booleans and numeric strings are not; ties → longest idle.
* Task order in a queue: FIFO = priority desc, virtual start asc, SID; LIFO = virtual start desc,
  priority ignored. *FIFO keys are global across FIFO queues (priority first, then age).
"""

from __future__ import annotations

from switchboard.expressions import OrderClause

from .config import (
    MAX_CONFIGURATION_BYTES,
    MAX_PRIORITY,
    MAX_TIMEOUT,
    ConfigurationError,
    Filter,
    Target,
    WorkflowConfig,
    parse_workflow_configuration,
)
from .documents import (
    filter_document,
    known_worker_admits,
    known_worker_value,
    resolve,
    should_skip,
    skip_document,
    target_document,
    time_variables,
)
from .ordering import order_key, task_sort_key
from .steps import Step, first_step, next_step, settle

__all__ = [
    "MAX_CONFIGURATION_BYTES",
    "MAX_PRIORITY",
    "MAX_TIMEOUT",
    "ConfigurationError",
    "Filter",
    "OrderClause",
    "Step",
    "Target",
    "WorkflowConfig",
    "filter_document",
    "first_step",
    "known_worker_admits",
    "known_worker_value",
    "next_step",
    "order_key",
    "parse_workflow_configuration",
    "resolve",
    "settle",
    "should_skip",
    "skip_document",
    "target_document",
    "task_sort_key",
    "time_variables",
]
