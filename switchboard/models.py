"""Domain records and enums with Twilio's exact strings, SID helpers and the Clock protocol.

Times are integers: milliseconds since the Unix epoch, UTC. Rendering to Twilio's
`YYYY-MM-DDTHH:MM:SSZ` happens only in `api/render.py`.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable


class Prefix(StrEnum):
    """The two letters that open every SID, by kind of resource."""

    ACCOUNT = "AC"
    API_KEY = "SK"
    WORKSPACE = "WS"
    ACTIVITY = "WA"
    WORKER = "WK"
    TASK_QUEUE = "WQ"
    WORKFLOW = "WW"
    TASK = "WT"
    RESERVATION = "WR"
    TASK_CHANNEL = "TC"
    WORKER_CHANNEL = "WC"
    EVENT = "EV"
    TRANSFER = "TT"


# Seeded from os.urandom, and again in a forked child so that two processes never share
# a sequence.
_random = random.Random()
_random_bits = _random.getrandbits
os.register_at_fork(after_in_child=_random.seed)

_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")


def new_sid(prefix: Prefix) -> str:
    """A fresh SID: the prefix and 32 lowercase hex digits, time-ordered.

    The first 12 digits are the wall-clock millisecond and the other 20 are random (80 bits,
    from a generator seeded by the operating system). SIDs made close in time are close in
    every index keyed on them, so a burst of inserts touches a few pages at the right edge
    of each B-tree instead of one random page per row, which is most of what a commit
    writes. Uniqueness stays with the 80 random bits per millisecond.
    """
    return f"{prefix.value}{time.time_ns() // 1_000_000:012x}{_random_bits(80):020x}"


def is_sid(value: str, prefix: Prefix) -> bool:
    """True when `value` is a well-formed SID of this kind."""
    return value.startswith(prefix.value) and _SID.match(value) is not None


class TaskOrder(StrEnum):
    FIFO = "FIFO"
    LIFO = "LIFO"


class Clock(Protocol):
    """The only source of 'now'. The system clock in production, a manual one in tests."""

    def now_ms(self) -> int: ...


@runtime_checkable
class MovableClock(Clock, Protocol):
    """A clock that time moves only on request (the manual clock)."""

    def set_ms(self, value: int) -> int: ...
    def advance_ms(self, delta: int) -> int: ...


@dataclass(frozen=True, slots=True)
class Account:
    sid: str
    auth_token: str
    friendly_name: str
    date_created: int


@dataclass(frozen=True, slots=True)
class ApiKey:
    sid: str
    account_sid: str
    secret_hash: str
    friendly_name: str
    date_created: int


@dataclass(frozen=True, slots=True)
class Workspace:
    sid: str
    account_sid: str
    friendly_name: str
    event_callback_url: str | None
    events_filter: str | None
    multi_task_enabled: bool
    default_activity_sid: str | None
    timeout_activity_sid: str | None
    prioritize_queue_order: TaskOrder
    date_created: int
    date_updated: int
    # Read-only joins: the names of the two activities above.
    default_activity_name: str | None = None
    timeout_activity_name: str | None = None


@dataclass(frozen=True, slots=True)
class Activity:
    sid: str
    workspace_sid: str
    account_sid: str
    friendly_name: str
    available: bool
    date_created: int
    date_updated: int


@dataclass(frozen=True, slots=True)
class TaskChannel:
    sid: str
    workspace_sid: str
    account_sid: str
    friendly_name: str
    unique_name: str
    channel_optimized_routing: bool
    date_created: int
    date_updated: int


@dataclass(frozen=True, slots=True)
class TaskQueue:
    sid: str
    workspace_sid: str
    account_sid: str
    friendly_name: str
    target_workers: str
    max_reserved_workers: int
    task_order: TaskOrder
    reservation_activity_sid: str | None
    assignment_activity_sid: str | None
    date_created: int
    date_updated: int
    reservation_activity_name: str | None = None
    assignment_activity_name: str | None = None


@dataclass(frozen=True, slots=True)
class Worker:
    sid: str
    workspace_sid: str
    account_sid: str
    friendly_name: str
    activity_sid: str
    attributes: str
    date_created: int
    date_updated: int
    date_status_changed: int
    # Bumped on every change; the ETag and If-Match compare against it.
    version: int
    activity_name: str = ""
    available: bool = False


@dataclass(frozen=True, slots=True)
class WorkerChannel:
    sid: str
    workspace_sid: str
    account_sid: str
    worker_sid: str
    task_channel_sid: str
    configured_capacity: int
    available: bool
    date_created: int
    date_updated: int
    task_channel_unique_name: str = ""
    # Counted from the routing index's open reservations when a channel is shown
    # (WorkerChannels.with_load); a stored channel carries no count.
    assigned_tasks: int = 0
    open_tasks: int = 0

    @property
    def available_capacity_percentage(self) -> int:
        """floor((1 - open / capacity) * 100); 0 when the channel has no capacity."""
        if self.configured_capacity <= 0:
            return 0
        free = max(self.configured_capacity - self.open_tasks, 0)
        return (free * 100) // self.configured_capacity


# Limits from TaskRouter's documentation (behaviour.md §9).
MAX_FRIENDLY_NAME = 64
MAX_ATTRIBUTES_CHARS = 4096
MAX_CHANNEL_CAPACITY = 50
MAX_RESERVED_WORKERS = 50
DEFAULT_CHANNELS = ("default", "voice", "sms", "chat", "video")
DEFAULT_ACTIVITIES = (("Offline", False), ("Available", True), ("Unavailable", False))


class TaskStatus(StrEnum):
    PENDING = "pending"
    RESERVED = "reserved"
    ASSIGNED = "assigned"
    CANCELED = "canceled"
    COMPLETED = "completed"
    WRAPPING = "wrapping"


class ReservationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    TIMEOUT = "timeout"
    CANCELED = "canceled"
    RESCINDED = "rescinded"
    WRAPPING = "wrapping"
    COMPLETED = "completed"


# The task and reservation lifecycles (behaviour.md §4.1, §5.1): every status change there is.
# A client may ask only for the changes into the CLIENT_… statuses (UpdateTask's
# AssignmentStatus, UpdateReservation's ReservationStatus); the engine makes the others as it
# routes (reserving, requeueing, accepting, timing out).
TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.PENDING: frozenset({TaskStatus.RESERVED, TaskStatus.CANCELED}),
    TaskStatus.RESERVED: frozenset({TaskStatus.PENDING, TaskStatus.ASSIGNED, TaskStatus.CANCELED}),
    TaskStatus.ASSIGNED: frozenset({TaskStatus.WRAPPING, TaskStatus.COMPLETED}),
    TaskStatus.WRAPPING: frozenset({TaskStatus.COMPLETED}),
    TaskStatus.CANCELED: frozenset(),
    TaskStatus.COMPLETED: frozenset(),
}
CLIENT_TASK_STATUSES = frozenset({TaskStatus.CANCELED, TaskStatus.WRAPPING, TaskStatus.COMPLETED})
RESERVATION_TRANSITIONS: dict[ReservationStatus, frozenset[ReservationStatus]] = {
    ReservationStatus.PENDING: frozenset(
        {
            ReservationStatus.ACCEPTED,
            ReservationStatus.REJECTED,
            ReservationStatus.TIMEOUT,
            ReservationStatus.CANCELED,
            ReservationStatus.RESCINDED,
        }
    ),
    ReservationStatus.ACCEPTED: frozenset(
        {ReservationStatus.WRAPPING, ReservationStatus.COMPLETED}
    ),
    ReservationStatus.WRAPPING: frozenset({ReservationStatus.COMPLETED}),
    ReservationStatus.REJECTED: frozenset(),
    ReservationStatus.TIMEOUT: frozenset(),
    ReservationStatus.CANCELED: frozenset(),
    ReservationStatus.RESCINDED: frozenset(),
    ReservationStatus.COMPLETED: frozenset(),
}
CLIENT_RESERVATION_STATUSES = frozenset(
    {
        ReservationStatus.ACCEPTED,
        ReservationStatus.REJECTED,
        ReservationStatus.WRAPPING,
        ReservationStatus.COMPLETED,
    }
)
OPEN_TASK_STATUSES = frozenset(
    {TaskStatus.PENDING, TaskStatus.RESERVED, TaskStatus.ASSIGNED, TaskStatus.WRAPPING}
)
# A reservation in one of these holds a slot of the worker's channel capacity.
OPEN_RESERVATION_STATUSES = frozenset(
    {ReservationStatus.PENDING, ReservationStatus.ACCEPTED, ReservationStatus.WRAPPING}
)


class DueDeadline(NamedTuple):
    """A deadline that has passed: a pending reservation's timeout ('reservation'), a pending
    task's workflow step timeout ('step') or a task's TTL ('ttl'), due at `at`."""

    at: int
    kind: str
    workspace_sid: str
    sid: str


DEFAULT_RESERVATION_TIMEOUT = 120
MAX_RESERVATION_TIMEOUT = 86_400
DEFAULT_TASK_TIMEOUT = 86_400
MAX_TASK_TIMEOUT = 1_209_600
MAX_ASSIGNMENT_COUNT = 1_000
MAX_PRIORITY = 2_147_483_647


@dataclass(frozen=True, slots=True)
class Workflow:
    sid: str
    workspace_sid: str
    account_sid: str
    friendly_name: str
    configuration: str
    assignment_callback_url: str | None
    fallback_assignment_callback_url: str | None
    task_reservation_timeout: int
    date_created: int
    date_updated: int


@dataclass(frozen=True, slots=True)
class Task:
    sid: str
    workspace_sid: str
    account_sid: str
    workflow_sid: str | None
    task_channel_sid: str
    attributes: str
    assignment_status: TaskStatus
    priority: int
    timeout: int
    reason: str | None
    addons: str | None
    routing_target: str | None
    ignore_capacity: bool | None
    virtual_start_time: int
    date_created: int
    date_updated: int
    date_closed: int | None
    version: int
    # Where the workflow holds the task (filter -1 is default_filter; None: no step).
    filter_index: int | None = None
    target_index: int | None = None
    task_queue_sid: str | None = None
    task_queue_entered_date: int | None = None
    step_deadline: int | None = None
    ttl_deadline: int | None = None
    assignment_count: int = 0
    # The task's latest transfer (worker SDK `Task.transfer`), kept after it ends; None for a
    # task never transferred, so routing asks about transfers only for tasks that had one.
    transfer_sid: str | None = None
    # Read-only joins.
    workflow_name: str | None = None
    task_queue_name: str | None = None
    task_channel_unique_name: str | None = None


@dataclass(frozen=True, slots=True)
class Reservation:
    sid: str
    workspace_sid: str
    account_sid: str
    task_sid: str
    worker_sid: str
    task_queue_sid: str | None
    task_channel_sid: str
    reservation_status: ReservationStatus
    timeout_deadline: int | None
    worker_previous_activity_sid: str | None
    instruction: str | None
    date_created: int
    date_updated: int
    version: int
    worker_name: str | None = None


class TransferStatus(StrEnum):
    """A transfer's states, spelled as the worker SDK spells them (its TRANSFER_STATUS
    constant: `complete`, not `completed`)."""

    INITIATED = "initiated"
    FAILED = "failed"
    COMPLETE = "complete"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class Transfer:
    """A cold transfer of a task (the worker SDK's `Task.transfer`) to a worker or a queue."""

    sid: str
    workspace_sid: str
    account_sid: str
    task_sid: str
    transfer_type: str  # WORKER or QUEUE
    transfer_mode: str  # COLD (WARM needs a conference: refused)
    transfer_to: str
    transfer_status: TransferStatus
    transfer_failed_reason: str | None
    initiating_reservation_sid: str
    initiating_worker_sid: str
    initiating_queue_sid: str | None
    initiating_workflow_sid: str | None
    date_created: int
    date_updated: int


class Event(NamedTuple):
    """An event, as the engine writes it and as it is read back: the events table's columns
    in their order, then the task's and the worker's attributes texts (or None), which are
    stored once each (storage/event_attributes.py) and referred to by digest. A tuple, so
    the engine's writes go to the database as they are, built positionally at the cost of a
    tuple."""

    sid: str
    workspace_sid: str
    account_sid: str
    seq: int
    ordinal: int
    event_type: str
    event_date: int
    resource_type: str
    resource_sid: str
    actor_type: str | None
    actor_sid: str | None
    description: str
    # Snake-case event data as JSON (values mostly strings); the attributes it shows are
    # kept apart (`task_attributes`, `worker_attributes`): read it with `event_data()`.
    data: str
    task_sid: str | None = None
    worker_sid: str | None = None
    reservation_sid: str | None = None
    task_queue_sid: str | None = None
    workflow_sid: str | None = None
    task_channel_sid: str | None = None
    source_ip_address: str | None = None
    task_attributes: str | None = None
    worker_attributes: str | None = None

    def event_data(self) -> dict[str, Any]:
        """The event data, as the Events API and event callbacks show it."""
        data: dict[str, Any] = json.loads(self.data)
        if self.task_attributes is not None:
            data["task_attributes"] = self.task_attributes
        if self.worker_attributes is not None:
            data["worker_attributes"] = self.worker_attributes
        return data


class Committed(Protocol):
    """A committed engine write (engine.tx.Tx) as its listeners hear of it: its workspace
    and the events it wrote, in order. Named here because the listeners (callback senders,
    metrics, the console) sit beside or below the engine and may not import it."""

    @property
    def workspace(self) -> Workspace: ...
    @property
    def events(self) -> Sequence[Event]: ...


# -- copying records ------------------------------------------------------------------------

R = TypeVar("R")
_EVOLVERS: dict[type, Any] = {}


def evolve(record: R, **changes: Any) -> R:
    """A copy of a frozen record with some fields changed: `dataclasses.replace` at half the
    cost. The engine copies thousands of tasks and reservations a second (a timeout burst
    makes three copies per timeout), and `replace` inspects the class's fields on every call;
    this builds one keyword-only function per class, once. An unknown field is a TypeError,
    as with `replace`."""
    cls = type(record)
    evolver = _EVOLVERS.get(cls)
    if evolver is None:
        evolver = _EVOLVERS[cls] = _make_evolver(cls)
    result: R = evolver(record, **changes)
    return result


def _make_evolver(cls: type) -> Any:
    names = [f.name for f in fields(cls)]
    parameters = ", ".join(f"{n}=_KEEP" for n in names)
    arguments = ", ".join(f"r.{n} if {n} is _KEEP else {n}" for n in names)
    namespace: dict[str, Any] = {"_KEEP": object(), "_cls": cls}
    exec(f"def evolve(r, *, {parameters}):\n    return _cls({arguments})\n", namespace)
    return namespace["evolve"]
