"""The columns of the state tables and the conversions between their rows and the records.

For each table: its column list, the SELECT its reads share (with the names its joins add),
and its `Columns`, which turns a row of that SELECT into the record and a record into the
values it writes. A table's columns are its record's leading fields, in the same order and
under the same names (checked when this module loads), and the conversions follow from the
fields' types, so a column is added in one place: the record and its column list. Everything
that writes or reads a table's rows (the Store, its collaborators, `HeldRows`) takes them from
here. Events have their own, in event_rows.py.
"""

from __future__ import annotations

import dataclasses
import enum
import types
from collections.abc import Callable
from typing import Any, Generic, TypeVar, get_args, get_type_hints

from switchboard.models import (
    Activity,
    Reservation,
    Task,
    TaskChannel,
    TaskQueue,
    Transfer,
    Worker,
    WorkerChannel,
    Workflow,
    Workspace,
)
from switchboard.storage.database import Row
from switchboard.storage.keyset import Sortable
from switchboard.storage.sql import names, qualified

R = TypeVar("R")


def _conversions(hint: Any, name: str) -> tuple[str, str] | None:
    """How a field of this type is read from a row and written to one, as expressions of
    `{}` (the value), or None when the database holds it as it is: booleans are stored as
    integers (SQLite has no other), enums as their values. `name` is the enum's name in the
    namespace the expressions run in."""
    if hint is bool:
        return "bool({})", "int({})"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return f"{name}({{}})", "{}.value"
    if isinstance(hint, types.UnionType) and set(get_args(hint)) == {bool, type(None)}:
        return "None if {0} is None else bool({0})", "None if {0} is None else int({0})"
    return None


class Columns(Generic[R]):
    """One table's columns and the record stored in them.

    A row read holds the columns and then the names the table's SELECT joins, which are the
    record's next fields. The conversions are found once, from the record's type hints, and
    written out as one function each way, as `models.evolve` does: records are read and
    written by the thousand a second, and a generic loop over the fields costs several times
    more than the plain expressions."""

    def __init__(self, record: type[R], columns: str) -> None:
        self.text = columns
        self.names = names(columns)
        fields = [f.name for f in dataclasses.fields(record)]  # type: ignore[arg-type]
        if list(self.names) != fields[: len(self.names)]:
            raise TypeError(f"{record.__name__}'s leading fields are not {columns!r}")
        hints = get_type_hints(record)
        found = [_conversions(hints[name], f"_t{i}") for i, name in enumerate(fields)]
        namespace: dict[str, Any] = {"_record": record}
        namespace.update((f"_t{i}", hints[fields[i]]) for i in range(len(fields)))
        # A row may end before the record's last fields (those no SELECT joins): the row's
        # tail after the last field converted goes in as it is.
        last = max((i for i, c in enumerate(found) if c is not None), default=-1)
        reads = [c[0].format(f"row[{i}]") if c else f"row[{i}]" for i, c in enumerate(found)]
        writes = [
            c[1].format(f"r.{name}") if c else f"r.{name}"
            for name, c in zip(self.names, found, strict=False)
        ]
        arguments = ", ".join([*reads[: last + 1], f"*row[{last + 1}:]"])
        exec(
            f"def record(row):\n    return _record({arguments})\n"
            f"def values(r):\n    return ({', '.join(writes)},)\n",
            namespace,
        )
        self.record: Callable[[Row], R] = namespace["record"]
        self.values: Callable[[R], tuple[Any, ...]] = namespace["values"]


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

WORKSPACES = Columns(Workspace, WORKSPACE_COLUMNS)
to_workspace = WORKSPACES.record


def workspace_settings(ws: Workspace) -> tuple[Any, ...]:
    """The columns a workspace update may change, in table order (friendly_name through
    prioritize_queue_order)."""
    return WORKSPACES.values(ws)[2:9]


# -- activities -------------------------------------------------------------------------------

ACTIVITY_COLUMNS = (
    "sid, workspace_sid, account_sid, friendly_name, available, date_created, date_updated"
)
ACTIVITY_SORT = Sortable.of(ACTIVITY_COLUMNS)

ACTIVITIES = Columns(Activity, ACTIVITY_COLUMNS)
to_activity, activity_values = ACTIVITIES.record, ACTIVITIES.values


# -- task channels ----------------------------------------------------------------------------

CHANNEL_COLUMNS = (
    "sid, workspace_sid, account_sid, friendly_name, unique_name, channel_optimized_routing,"
    " date_created, date_updated"
)
CHANNEL_SORT = Sortable.of(CHANNEL_COLUMNS)

CHANNELS = Columns(TaskChannel, CHANNEL_COLUMNS)
to_channel, channel_values = CHANNELS.record, CHANNELS.values


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

QUEUES = Columns(TaskQueue, QUEUE_COLUMNS)
to_queue, queue_values = QUEUES.record, QUEUES.values


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

WORKERS = Columns(Worker, WORKER_COLUMNS)
to_worker = WORKERS.record


def worker_values(w: Worker) -> tuple[Any, ...]:
    """The values of WORKER_INSERT_COLUMNS."""
    return (*WORKERS.values(w), w.friendly_name.casefold())


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

WORKER_CHANNELS = Columns(WorkerChannel, WORKER_CHANNEL_COLUMNS)
to_worker_channel, worker_channel_values = WORKER_CHANNELS.record, WORKER_CHANNELS.values


# -- workflows --------------------------------------------------------------------------------

WORKFLOW_COLUMNS = (
    "sid, workspace_sid, account_sid, friendly_name, configuration, assignment_callback_url,"
    " fallback_assignment_callback_url, task_reservation_timeout, date_created, date_updated"
)
WORKFLOW_SORT = Sortable.of(WORKFLOW_COLUMNS)

WORKFLOWS = Columns(Workflow, WORKFLOW_COLUMNS)
to_workflow, workflow_values = WORKFLOWS.record, WORKFLOWS.values


# -- tasks ------------------------------------------------------------------------------------

TASK_COLUMNS = (
    "sid, workspace_sid, account_sid, workflow_sid, task_channel_sid, attributes,"
    " assignment_status, priority, timeout, reason, addons, routing_target, ignore_capacity,"
    " virtual_start_time, date_created, date_updated, date_closed, version, filter_index,"
    " target_index, task_queue_sid, task_queue_entered_date, step_deadline, ttl_deadline,"
    " assignment_count, transfer_sid"
)
TASK_SELECT = (
    f"SELECT {qualified('t', TASK_COLUMNS)}, f.friendly_name, q.friendly_name,"
    " c.unique_name FROM tasks t"
    " LEFT JOIN workflows f ON f.sid = t.workflow_sid"
    " LEFT JOIN task_queues q ON q.sid = t.task_queue_sid"
    " LEFT JOIN task_channels c ON c.sid = t.task_channel_sid"
)
TASK_SORT = Sortable.of(TASK_COLUMNS, "t")

TASKS = Columns(Task, TASK_COLUMNS)
to_task, task_values = TASKS.record, TASKS.values


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

RESERVATIONS = Columns(Reservation, RESERVATION_COLUMNS)
to_reservation, reservation_values = RESERVATIONS.record, RESERVATIONS.values


# -- transfers --------------------------------------------------------------------------------

TRANSFER_COLUMNS = (
    "sid, workspace_sid, account_sid, task_sid, transfer_type, transfer_mode, transfer_to,"
    " transfer_status, transfer_failed_reason, initiating_reservation_sid,"
    " initiating_worker_sid, initiating_queue_sid, initiating_workflow_sid, date_created,"
    " date_updated"
)
TRANSFERS = Columns(Transfer, TRANSFER_COLUMNS)
