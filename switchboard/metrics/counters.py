"""Counters and histograms this process keeps: each process counts only what it did.

With several processes on one PostgreSQL database, each exposes its own counts under a
`process` label (host:pid), so Prometheus sums them across processes (`sum without
(process)`) and a restart shows as a counter reset, which `rate()` already handles. Scrape
each process directly, not through the load balancer, or the counts seen jump between
processes.
"""

from __future__ import annotations

import os
import socket
from contextvars import ContextVar
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram

from switchboard import models
from switchboard.events import EventType

PROCESS = f"{socket.gethostname()}:{os.getpid()}"

# The outcomes that end a reservation's pending phase: created = the sum of these + pending.
_ENDINGS: dict[str, str] = {
    EventType.RESERVATION_ACCEPTED: "accepted",
    EventType.RESERVATION_REJECTED: "rejected",
    EventType.RESERVATION_TIMEOUT: "timeout",
    EventType.RESERVATION_CANCELED: "canceled",
    EventType.RESERVATION_RESCINDED: "rescinded",
    EventType.RESERVATION_FAILED: "failed",
}
# From a task's creation to its first offer: sub-second when workers wait, minutes when
# tasks do.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
# A request's database time so far, while the request middleware serves it (one box per request; a
# task or a callback the request schedules copies the context, so its time joins the box).
_REQUEST_DATABASE: ContextVar[list[float] | None] = ContextVar("request_database", default=None)


class _Task(Protocol):
    @property
    def date_created(self) -> int: ...


class _TaskEntry(Protocol):
    @property
    def task(self) -> _Task: ...


class _Work(Protocol):
    @property
    def tasks(self) -> dict[str, Any]: ...  # task SID → entry with `.task`


class _Index(Protocol):
    @property
    def work(self) -> _Work: ...


class Committed(models.Committed, Protocol):
    """A committed engine write as the counters read it: also the routing index that still
    holds its open tasks."""

    @property
    def index(self) -> _Index: ...


class ProcessCounters:
    """This process's counters, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["workspace_sid", "process"]
        self.reservations_created = Counter(
            "switchboard_reservations_created",
            "Reservations created (offers made to workers) by this process",
            labels, registry=self.registry,
        )  # fmt: skip
        self.reservations_ended = Counter(
            "switchboard_reservations_ended",
            "Reservations that left pending, by outcome, by this process",
            [*labels, "outcome"], registry=self.registry,
        )  # fmt: skip
        self.assignment_latency = Histogram(
            "switchboard_task_reservation_latency_seconds",
            "From a task's creation to each reservation made for it",
            labels, buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.requests = Counter(
            "switchboard_requests",
            "HTTP requests answered by this process, by operation, method and status",
            ["operation", "method", "status", "process"], registry=self.registry,
        )  # fmt: skip
        self.request_seconds = Histogram(
            "switchboard_request_duration_seconds",
            "Time to answer a request, by operation",
            ["operation", "process"], buckets=REQUEST_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.database_seconds = Histogram(
            "switchboard_database_seconds",
            "Time a request spent in the database (its statements and commits), by operation",
            ["operation", "process"], buckets=REQUEST_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.background_database = Counter(
            "switchboard_background_database_seconds",
            "Time spent in the database outside HTTP requests: deadline ticks, callbacks,"
            " realtime sessions and presence, start-up",
            ["process"], registry=self.registry,
        ).labels(PROCESS)  # fmt: skip
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def on_commit(self, tx: Committed) -> None:
        """Count a committed write's reservation events (an engine commit listener)."""
        ws = tx.workspace.sid
        tasks = tx.index.work.tasks
        for event in tx.events:
            kind = event.event_type
            if kind == EventType.RESERVATION_CREATED:
                self.reservations_created.labels(ws, PROCESS).inc()
                entry = None if event.task_sid is None else tasks.get(event.task_sid)
                if entry is not None:
                    waited = max(event.event_date - entry.task.date_created, 0) / 1000
                    self.assignment_latency.labels(ws, PROCESS).observe(waited)
            elif kind in _ENDINGS:
                self.reservations_ended.labels(ws, PROCESS, _ENDINGS[kind]).inc()

    def observe_database(self, seconds: float) -> None:
        """A call to the database took `seconds` (the Store's observer): the request being
        served adds it up, or else it is background work."""
        box = _REQUEST_DATABASE.get()
        if box is None:
            self.background_database.inc(seconds)
        else:
            box[0] += seconds

    def start_request(self) -> list[float]:
        """A box adding up the database time of the request served in this context."""
        box = [0.0]
        _REQUEST_DATABASE.set(box)
        return box

    def observe_request(
        self, operation: str, method: str, status: int, seconds: float, database_s: float
    ) -> None:
        key = (operation, method, status)
        children = self._request_children.get(key)
        if children is None:
            # labels() resolves and locks on every call; a request should pay a dict lookup.
            children = self._request_children[key] = (
                self.requests.labels(operation, method, str(status), PROCESS),
                self.request_seconds.labels(operation, PROCESS),
                self.database_seconds.labels(operation, PROCESS),
            )
        count, duration, database = children
        count.inc()
        duration.observe(seconds)
        database.observe(database_s)
