"""The figures statistics report, as plain records (times in epoch ms, durations in seconds),
and the read-only view of the routing index they are computed from."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from switchboard.models import Activity, Worker
from switchboard.storage.statistics_rows import Spread

RESERVATION_FIGURES = {
    "reservation.created": "reservations_created",
    "reservation.accepted": "reservations_accepted",
    "reservation.rejected": "reservations_rejected",
    "reservation.timeout": "reservations_timed_out",
    "reservation.canceled": "reservations_canceled",
    "reservation.rescinded": "reservations_rescinded",
}
TASK_STATUSES = ("pending", "reserved", "assigned", "wrapping")


class WorkerHolder(Protocol):
    @property
    def worker(self) -> Worker: ...


class RoutingView(Protocol):
    """What statistics read from a workspace's routing index (engine/index.py)."""

    @property
    def activities(self) -> Mapping[str, Activity]: ...

    @property
    def workers(self) -> Mapping[str, WorkerHolder]: ...

    def members(self, queue_sid: str) -> Collection[str]: ...


@dataclass(frozen=True, slots=True)
class Window:
    """The interval cumulative figures cover: events dated start ≤ date ≤ end (epoch ms)."""

    start: int
    end: int


def seconds(ms: int) -> int:
    """Milliseconds to whole seconds, halves rounded up."""
    return (ms + 500) // 1000


@dataclass(frozen=True, slots=True)
class Duration:
    """avg, min, max and total of some durations, in whole seconds."""

    avg: int = 0
    min: int = 0
    max: int = 0
    total: int = 0

    @classmethod
    def of(cls, spread: Spread) -> Duration:
        if not spread.count:
            return cls()
        avg = (spread.total + spread.count * 500) // (spread.count * 1000)
        return cls(avg, seconds(spread.minimum), seconds(spread.maximum), seconds(spread.total))


@dataclass(frozen=True, slots=True)
class ActivityCount:
    sid: str
    friendly_name: str
    workers: int


@dataclass(frozen=True, slots=True)
class ActivityDuration:
    sid: str
    friendly_name: str
    duration: Duration


@dataclass(frozen=True, slots=True)
class Split:
    """Tasks canceled and reservations accepted after waiting at most (below) or more than
    (above) one threshold."""

    below_canceled: int = 0
    below_accepted: int = 0
    above_canceled: int = 0
    above_accepted: int = 0


@dataclass(slots=True)
class RealTime:
    """Current figures of a workspace, queue, workflow or set of workers."""

    activity_statistics: list[ActivityCount] = field(default_factory=list)
    longest_task_waiting_age: int = 0
    longest_task_waiting_sid: str | None = None
    longest_relative_task_age_in_queue: int = 0
    longest_relative_task_sid_in_queue: str | None = None
    tasks_by_priority: dict[str, int] = field(default_factory=dict)
    tasks_by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TASK_STATUSES, 0))
    total_tasks: int = 0
    total_workers: int = 0
    total_available_workers: int = 0
    total_eligible_workers: int = 0


@dataclass(slots=True)
class Cumulative:
    """Figures of the events in a window, for a workspace, queue or workflow."""

    window: Window
    counts: dict[str, int] = field(default_factory=dict)
    wait_duration_until_accepted: Duration = Duration()
    wait_duration_until_canceled: Duration = Duration()
    wait_duration_in_queue_until_accepted: Duration = Duration()
    # Threshold (seconds) → split; None when no thresholds were asked for.
    split_by_wait_time: dict[int, Split] | None = None

    @property
    def avg_task_acceptance_time(self) -> int:
        return self.wait_duration_until_accepted.avg

    def count(self, name: str) -> int:
        return self.counts.get(name, 0)


@dataclass(slots=True)
class WorkersCumulative:
    """Figures of the events in a window, for a set of workers (or one)."""

    window: Window
    counts: dict[str, int] = field(default_factory=dict)
    activity_durations: list[ActivityDuration] = field(default_factory=list)

    def count(self, name: str) -> int:
        return self.counts.get(name, 0)
