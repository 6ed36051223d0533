"""The columns of the state tables and the conversions between their rows and the records.

For each table: its column list (in the order of the record's fields), the SELECT its reads
share (with the names its joins add), the record made from a row of that SELECT, the values a
record writes, and the fields its lists may be sorted by. Everything that writes or reads a
table's rows (the Store's methods, `HeldRows`) takes them from here, so a column is added in
one place. Events have their own, in event_rows.py.
"""

from __future__ import annotations

from typing import Any

from switchboard.models import (
    Activity,
    Reservation,
    ReservationStatus,
    Task,
    TaskChannel,
    TaskOrder,
    TaskQueue,
    TaskStatus,
    Worker,
    WorkerChannel,
    Workflow,
    Workspace,
)
from switchboard.storage.database import Row
from switchboard.storage.keyset import Sortable
from switchboard.storage.sql import names, qualified

# -- workspaces -------------------------------------------------------------------------------

WORKSPACE_COLUMNS = (
    "sid, account_sid, friendly_name, event_callback_url, events_filter, multi_task_enabled,"
    " default_activity_sid, timeout_activity_sid, prioritize_queue_order, date_created,"
    " date_updated"
)
WORKSPACE_SELECT = (
    f"SELECT {qualified('w', WORKSPACE_COLUMNS)}, d.friendly_name, t.friendly_name"
    " FROM workspaces w LEFT JOIN activities d ON d.sid = w.default_activity_sid"
    " LEFT JOIN activities t ON t.sid = w.timeout_activity_sid"
)
WORKSPACE_SORT = Sortable.of(WORKSPACE_COLUMNS, "w")


def to_workspace(row: Row) -> Workspace:
    return Workspace(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        bool(row[5]),
        row[6],
        row[7],
        TaskOrder(row[8]),
        row[9],
        row[10],
        row[11],
        row[12],
    )


def workspace_settings(ws: Workspace) -> tuple[Any, ...]:
    """The columns a workspace update may change, in table order (friendly_name through
    prioritize_queue_order)."""
    return (
        ws.friendly_name,
        ws.event_callback_url,
        ws.events_filter,
        int(ws.multi_task_enabled),
        ws.default_activity_sid,
        ws.timeout_activity_sid,
        ws.prioritize_queue_order.value,
    )


# -- activities -------------------------------------------------------------------------------

ACTIVITY_COLUMNS = (
    "sid, workspace_sid, account_sid, friendly_name, available, date_created, date_updated"
)
ACTIVITY_SORT = Sortable.of(ACTIVITY_COLUMNS)


def to_activity(row: Row) -> Activity:
    return Activity(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6])


def activity_values(a: Activity) -> tuple[Any, ...]:
    return (
        a.sid,
        a.workspace_sid,
        a.account_sid,
        a.friendly_name,
        int(a.available),
        a.date_created,
        a.date_updated,
    )


# -- task channels ----------------------------------------------------------------------------

CHANNEL_COLUMNS = (
    "sid, workspace_sid, account_sid, friendly_name, unique_name, channel_optimized_routing,"
    " date_created, date_updated"
)
CHANNEL_SORT = Sortable.of(CHANNEL_COLUMNS)


def to_channel(row: Row) -> TaskChannel:
    return TaskChannel(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6], row[7])


def channel_values(c: TaskChannel) -> tuple[Any, ...]:
    return (
        c.sid,
        c.workspace_sid,
        c.account_sid,
        c.friendly_name,
        c.unique_name,
        int(c.channel_optimized_routing),
        c.date_created,
        c.date_updated,
    )


# -- task queues ------------------------------------------------------------------------------

QUEUE_COLUMNS = (
    "sid, workspace_sid, account_sid, friendly_name, target_workers, max_reserved_workers,"
    " task_order, reservation_activity_sid, assignment_activity_sid, date_created, date_updated"
)
QUEUE_SELECT = (
    f"SELECT {qualified('q', QUEUE_COLUMNS)}, r.friendly_name, a.friendly_name"
    " FROM task_queues q LEFT JOIN activities r ON r.sid = q.reservation_activity_sid"
    " LEFT JOIN activities a ON a.sid = q.assignment_activity_sid"
)
QUEUE_SORT = Sortable.of(QUEUE_COLUMNS, "q")


def to_queue(row: Row) -> TaskQueue:
    return TaskQueue(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        TaskOrder(row[6]),
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
    )


def queue_values(q: TaskQueue) -> tuple[Any, ...]:
    return (
        q.sid,
        q.workspace_sid,
        q.account_sid,
        q.friendly_name,
        q.target_workers,
        q.max_reserved_workers,
        q.task_order.value,
        q.reservation_activity_sid,
        q.assignment_activity_sid,
        q.date_created,
        q.date_updated,
    )


# -- workers ----------------------------------------------------------------------------------

WORKER_COLUMNS = (
    "sid, workspace_sid, account_sid, friendly_name, activity_sid, attributes, date_created,"
    " date_updated, date_status_changed, version"
)
# Stored beside the worker's columns: its name folded, for names unique ignoring case.
WORKER_INSERT_COLUMNS = f"{WORKER_COLUMNS}, name_key"
WORKER_SELECT = (
    f"SELECT {qualified('w', WORKER_COLUMNS)}, a.friendly_name, a.available"
    " FROM workers w JOIN activities a ON a.sid = w.activity_sid"
)


def to_worker(row: Row) -> Worker:
    return Worker(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        bool(row[11]),
    )


def worker_values(w: Worker) -> tuple[Any, ...]:
    """The values of WORKER_INSERT_COLUMNS."""
    return (
        w.sid,
        w.workspace_sid,
        w.account_sid,
        w.friendly_name,
        w.activity_sid,
        w.attributes,
        w.date_created,
        w.date_updated,
        w.date_status_changed,
        w.version,
        w.friendly_name.casefold(),
    )


# -- worker channels --------------------------------------------------------------------------

WORKER_CHANNEL_COLUMNS = (
    "sid, workspace_sid, account_sid, worker_sid, task_channel_sid, configured_capacity,"
    " available, date_created, date_updated"
)
WORKER_CHANNEL_SELECT = (
    f"SELECT {qualified('c', WORKER_CHANNEL_COLUMNS)}, t.unique_name"
    " FROM worker_channels c JOIN task_channels t ON t.sid = c.task_channel_sid"
)
WORKER_CHANNEL_SORT = Sortable.of(WORKER_CHANNEL_COLUMNS, "c")


def to_worker_channel(row: Row) -> WorkerChannel:
    return WorkerChannel(
        row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]), row[7], row[8], row[9]
    )


def worker_channel_values(c: WorkerChannel) -> tuple[Any, ...]:
    return (
        c.sid,
        c.workspace_sid,
        c.account_sid,
        c.worker_sid,
        c.task_channel_sid,
        c.configured_capacity,
        int(c.available),
        c.date_created,
        c.date_updated,
    )


# -- workflows --------------------------------------------------------------------------------

WORKFLOW_COLUMNS = (
    "sid, workspace_sid, account_sid, friendly_name, configuration, assignment_callback_url,"
    " fallback_assignment_callback_url, task_reservation_timeout, date_created, date_updated"
)
WORKFLOW_SORT = Sortable.of(WORKFLOW_COLUMNS)


def to_workflow(row: Row) -> Workflow:
    return Workflow(*row)


def workflow_values(w: Workflow) -> tuple[Any, ...]:
    return (
        w.sid,
        w.workspace_sid,
        w.account_sid,
        w.friendly_name,
        w.configuration,
        w.assignment_callback_url,
        w.fallback_assignment_callback_url,
        w.task_reservation_timeout,
        w.date_created,
        w.date_updated,
    )


# -- tasks ------------------------------------------------------------------------------------

TASK_COLUMNS = (
    "sid, workspace_sid, account_sid, workflow_sid, task_channel_sid, attributes,"
    " assignment_status, priority, timeout, reason, addons, routing_target, ignore_capacity,"
    " virtual_start_time, date_created, date_updated, date_closed, version, filter_index,"
    " target_index, task_queue_sid, task_queue_entered_date, step_deadline, ttl_deadline,"
    " assignment_count"
)
TASK_COLUMN_NAMES = names(TASK_COLUMNS)
TASK_SELECT = (
    f"SELECT {qualified('t', TASK_COLUMNS)}, f.friendly_name, q.friendly_name,"
    " c.unique_name FROM tasks t"
    " LEFT JOIN workflows f ON f.sid = t.workflow_sid"
    " LEFT JOIN task_queues q ON q.sid = t.task_queue_sid"
    " LEFT JOIN task_channels c ON c.sid = t.task_channel_sid"
)
TASK_SORT = Sortable.of(TASK_COLUMNS, "t")


def to_task(row: Row) -> Task:
    values = list(row)
    values[6] = TaskStatus(values[6])
    values[12] = None if values[12] is None else bool(values[12])
    return Task(*values)


def task_values(t: Task) -> tuple[Any, ...]:
    return (
        t.sid,
        t.workspace_sid,
        t.account_sid,
        t.workflow_sid,
        t.task_channel_sid,
        t.attributes,
        t.assignment_status.value,
        t.priority,
        t.timeout,
        t.reason,
        t.addons,
        t.routing_target,
        None if t.ignore_capacity is None else int(t.ignore_capacity),
        t.virtual_start_time,
        t.date_created,
        t.date_updated,
        t.date_closed,
        t.version,
        t.filter_index,
        t.target_index,
        t.task_queue_sid,
        t.task_queue_entered_date,
        t.step_deadline,
        t.ttl_deadline,
        t.assignment_count,
    )


# -- reservations -----------------------------------------------------------------------------

RESERVATION_COLUMNS = (
    "sid, workspace_sid, account_sid, task_sid, worker_sid, task_queue_sid, task_channel_sid,"
    " reservation_status, timeout_deadline, worker_previous_activity_sid, instruction,"
    " date_created, date_updated, version"
)
RESERVATION_SELECT = (
    f"SELECT {qualified('r', RESERVATION_COLUMNS)}, w.friendly_name FROM reservations r"
    " LEFT JOIN workers w ON w.sid = r.worker_sid"
)
RESERVATION_SORT = Sortable.of(RESERVATION_COLUMNS, "r")


def to_reservation(row: Row) -> Reservation:
    values = list(row)
    values[7] = ReservationStatus(values[7])
    return Reservation(*values)


def reservation_values(r: Reservation) -> tuple[Any, ...]:
    return (
        r.sid,
        r.workspace_sid,
        r.account_sid,
        r.task_sid,
        r.worker_sid,
        r.task_queue_sid,
        r.task_channel_sid,
        r.reservation_status.value,
        r.timeout_deadline,
        r.worker_previous_activity_sid,
        r.instruction,
        r.date_created,
        r.date_updated,
        r.version,
    )
