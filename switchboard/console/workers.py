"""The workers page: each worker's activity and how long it has been in it, its channels'
load and capacity, and its open reservations, filtered by activity, queue or expression.

Read from the routing index, which holds every worker, channel and open reservation of the
workspace; a page lists at most `LIMIT` workers and says how many matched.
"""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.engine import Engine
from switchboard.expressions import ExpressionError, compile_expression

LIMIT = 200


@dataclass(frozen=True)
class ChannelLoad:
    name: str
    open: int
    capacity: int
    available: bool


@dataclass(frozen=True)
class WorkerRow:
    sid: str
    name: str
    activity_name: str
    available: bool
    in_activity_s: int
    channels: list[ChannelLoad]
    open_reservations: int
    pending_reservations: int


@dataclass(frozen=True)
class WorkerList:
    rows: list[WorkerRow]
    matched: int
    error: str | None = None


def list_workers(
    engine: Engine, workspace_sid: str, *, activity: str = "", queue: str = "",
    expression: str = "",
) -> WorkerList:  # fmt: skip
    """The workspace's workers that pass every filter given, by name."""
    index = engine.index(workspace_sid)
    now = engine.now()
    entries = list(index.workers.values())
    if activity:
        entries = [e for e in entries if e.worker.activity_sid == activity]
    if queue:
        members = index.members(queue) if queue in index.queues else set()
        entries = [e for e in entries if e.worker.sid in members]
    if expression:
        try:
            compiled = compile_expression(expression)
        except ExpressionError as error:
            return WorkerList([], 0, f"The expression does not parse: {error.message}")
        entries = [e for e in entries if compiled.matches(e.doc)]
    entries.sort(key=lambda e: (e.worker.friendly_name.lower(), e.worker.sid))
    rows = []
    for entry in entries[:LIMIT]:
        worker = index.current(entry.worker)
        channels = []
        for channel_sid, channel in sorted(index.worker_channels.get(worker.sid, {}).items()):
            task_channel = index.channels.get(channel_sid)
            channels.append(ChannelLoad(
                task_channel.unique_name if task_channel else channel_sid,
                index.work.open_count(worker.sid, channel_sid), channel.configured_capacity,
                channel.available,
            ))  # fmt: skip
        load = index.work.load.get(worker.sid, {})
        rows.append(WorkerRow(
            worker.sid, worker.friendly_name, worker.activity_name, worker.available,
            max(now - worker.date_status_changed, 0) // 1000, channels,
            load.get("", 0), load.get("pending", 0),
        ))  # fmt: skip
    return WorkerList(rows, len(entries))
