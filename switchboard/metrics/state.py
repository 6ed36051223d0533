"""Gauges of the current state, computed when Prometheus scrapes.

Every figure comes from the database (a few GROUP BY queries per workspace, see
storage/board_rows.py), not from this process's memory, so each process sharing a
PostgreSQL database reports the same values and a restart loses nothing.

A workspace of 500 queues must scrape quickly, and each sample costs time to write and to
store, so the series stay few: every queue reports its pending tasks and longest wait (0 when
none), what an alert watches from the queue's creation on; the other statuses and the open
reservations appear only while not zero (`or vector(0)` in a query); a queue's name is a
label of `switchboard_task_queue_info` alone, joined on `task_queue_sid` where wanted.

The families are written in Prometheus' text format as they are filled (`_Family`), not
through prometheus_client's families and exposition, which cost ~8 us a sample: 15 ms for
the 1,700 samples of such a workspace, where writing them costs a few.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from switchboard.metrics.counters import PROCESS
from switchboard.storage import Store
from switchboard.storage.board_rows import CallbackState

_WAITING = ("pending", "reserved")


@dataclass(frozen=True)
class TickReading:
    """The deadline loop as this process sees it (None when the clock is manual)."""

    is_leader: bool
    lag_ms: int


def _seconds(now: int, since: int | None) -> float:
    return 0.0 if since is None else max(now - since, 0) / 1000


def _escaped(value: str) -> str:
    """A label value as the text format writes it."""
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return value


class _Family:
    """One metric family, its samples written as they are added."""

    def __init__(self, name: str, text: str, labels: Sequence[str], kind: str = "gauge") -> None:
        # A counter's samples, and its HELP and TYPE, are named with `_total`.
        self.name = f"{name}_total" if kind == "counter" else name
        self.head = f"# HELP {self.name} {text}\n# TYPE {self.name} {kind}\n"
        self.labels = [f'{label}="' for label in labels]
        self.lines: list[str] = []

    def add(self, values: Sequence[str], value: float) -> None:
        pairs = ",".join(
            f'{label}{_escaped(v)}"' for label, v in zip(self.labels, values, strict=True)
        )
        # Counts and seconds: finite, so Python's repr of the float is a valid value.
        self.lines.append(f"{self.name}{{{pairs}}} {float(value)!r}\n")

    def text(self) -> str:
        return self.head + "".join(self.lines)


# (kind, name, help, the figure from a workspace's CallbackState at `now`)
_CALLBACK_METRICS: list[tuple[str, str, str, Callable[[CallbackState, int], float]]] = [
    (
        "gauge",
        "switchboard_assignment_callbacks_pending",
        "Assignment callbacks waiting to be sent",
        lambda c, now: c.assignment_pending,
    ),
    (
        "gauge",
        "switchboard_assignment_callback_lag_seconds",
        "Age of the oldest assignment callback waiting to be sent (0: none waits)",
        lambda c, now: _seconds(now, c.assignment_oldest_pending),
    ),
    (
        "counter",
        "switchboard_assignment_callbacks_failed",
        "Assignment callbacks given up after failing (as recorded in the database)",
        lambda c, now: c.assignment_failed,
    ),
    (
        "gauge",
        "switchboard_event_backlog",
        "Events the workspace's event callback stream has still to send",
        lambda c, now: c.event_backlog,
    ),
    (
        "gauge",
        "switchboard_event_callback_lag_seconds",
        "Age of the oldest event not yet delivered to the EventCallbackUrl (0: none)",
        lambda c, now: _seconds(now, c.event_oldest_undelivered),
    ),
    (
        "gauge",
        "switchboard_event_callback_failures_in_a_row",
        "Failed attempts in a row at the event stream's head event (0: delivering)",
        lambda c, now: c.event_attempts,
    ),
    (
        "counter",
        "switchboard_event_callbacks_skipped",
        "Events skipped after failing too many times in a row",
        lambda c, now: c.event_skipped,
    ),
]


class StateMetrics:
    """The state gauges of some workspaces, read from the Store when `text` is asked."""

    def __init__(
        self, store: Store, workspace_sids: Sequence[str], now: int, tick: TickReading | None
    ) -> None:
        self.store = store
        self.workspace_sids = workspace_sids
        self.now = now
        self.tick = tick

    def text(self) -> str:
        """The families in Prometheus' text format."""
        families = _Families()
        for ws in self.workspace_sids:
            families.add_workspace(self.store, ws, self.now)
        found = families.all()
        if self.tick is not None:
            lag = _Family(
                "switchboard_tick_lag_seconds",
                "How late the deadline loop's last pass came to the earliest deadline due",
                ["process"],
            )
            lag.add([PROCESS], self.tick.lag_ms / 1000)
            leader = _Family(
                "switchboard_tick_leader", "1 when this process runs the deadline loop", ["process"]
            )
            leader.add([PROCESS], 1.0 if self.tick.is_leader else 0.0)
            found += [lag, leader]
        return "".join(family.text() for family in found)


class _Families:
    """The metric families of one scrape, filled workspace by workspace."""

    def __init__(self) -> None:
        queue = ["workspace_sid", "task_queue_sid"]
        self.queue_info = _Family(
            "switchboard_task_queue_info",
            "Each queue, with its name (always 1)",
            [*queue, "task_queue_name"],
        )
        self.tasks = _Family(
            "switchboard_tasks",
            "Open tasks per queue and status (pending always; other statuses while not 0)",
            [*queue, "status"],
        )
        self.longest_wait = _Family(
            "switchboard_task_longest_wait_seconds",
            "Age of the oldest pending or reserved task of each queue (0: none waits)",
            queue,
        )
        self.reservations = _Family(
            "switchboard_reservations_open",
            "Reservations pending, accepted or wrapping, per queue (while not 0)",
            [*queue, "status"],
        )
        self.workers = _Family(
            "switchboard_workers",
            "Workers per activity",
            ["workspace_sid", "activity_sid", "activity_name", "available"],
        )
        # Where the workspace's callbacks stand: one sample each, read from its CallbackState.
        self.callbacks = [
            (_Family(name, text, ["workspace_sid"], kind), read)
            for kind, name, text, read in _CALLBACK_METRICS
        ]

    def all(self) -> list[_Family]:
        return [
            self.queue_info, self.tasks, self.longest_wait, self.reservations, self.workers,
            *(family for family, _ in self.callbacks),
        ]  # fmt: skip

    def add_workspace(self, store: Store, ws: str, now: int) -> None:
        board = store.board
        names = board.queue_names(ws)
        counts: dict[tuple[str, str], int] = {}
        oldest: dict[str, int] = {}
        for group in board.queue_tasks(ws):
            queue = group.task_queue_sid
            if queue is None or queue not in names:
                continue  # a task no step has placed yet belongs to no queue
            counts[queue, group.status] = counts.get((queue, group.status), 0) + group.count
            if group.status in _WAITING:
                oldest[queue] = min(oldest.get(queue, group.oldest_created), group.oldest_created)
        for queue, name in names.items():
            self.queue_info.add([ws, queue, name], 1)
            self.tasks.add([ws, queue, "pending"], counts.pop((queue, "pending"), 0))
            self.longest_wait.add([ws, queue], _seconds(now, oldest.get(queue)))
        for (queue, status), count in counts.items():
            self.tasks.add([ws, queue, status], count)
        for (queue, status), count in board.open_reservations(ws).items():
            if queue in names:
                self.reservations.add([ws, queue, status], count)
        for activity in board.activity_workers(ws):
            self.workers.add(
                [
                    ws,
                    activity.activity_sid,
                    activity.friendly_name,
                    str(activity.available).lower(),
                ],
                activity.workers,
            )
        callbacks = board.callback_state(ws, store.event_streams.get(ws))
        for family, read in self.callbacks:
            family.add([ws], read(callbacks, now))
