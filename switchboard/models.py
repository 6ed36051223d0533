"""Domain records and enums with Twilio's exact strings, SID helpers and the Clock protocol.

Times are integers: milliseconds since the Unix epoch, UTC. Rendering to Twilio's
`YYYY-MM-DDTHH:MM:SSZ` happens only in `api/render.py`.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


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


_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")


def new_sid(prefix: Prefix) -> str:
    """A fresh SID: the prefix and 32 random lowercase hex digits."""
    return prefix.value + secrets.token_hex(16)


def is_sid(value: str, prefix: Prefix) -> bool:
    """True when `value` is a well-formed SID of this kind."""
    return value.startswith(prefix.value) and _SID.match(value) is not None


class TaskOrder(StrEnum):
    FIFO = "FIFO"
    LIFO = "LIFO"


class Clock(Protocol):
    """The only source of 'now'. The system clock in production, a manual one in tests."""

    def now_ms(self) -> int: ...


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
    # Counted from open reservations once the routing engine exists; 0 until then.
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
