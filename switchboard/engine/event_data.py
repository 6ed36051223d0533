"""The data carried by routing events, in Twilio's snake_case names (values as strings,
as TaskRouter's event_data shows them)."""

from __future__ import annotations

import functools
import time
from typing import Any

from switchboard.engine.index import WorkspaceIndex
from switchboard.models import Reservation, Task, Worker


def _iso(ms: int | None) -> str | None:
    return None if ms is None else _iso_second(ms // 1000)


@functools.lru_cache(maxsize=4096)
def _iso_second(second: int) -> str:
    """Events repeat the same few moments (a task's creation, its queue entry)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


def task_data(task: Task, index: WorkspaceIndex, now: int) -> dict[str, Any]:
    queue = index.queues.get(task.task_queue_sid or "")
    channel = index.channels.get(task.task_channel_sid)
    flow = index.work.workflows.get(task.workflow_sid or "")
    return {
        "task_sid": task.sid,
        "task_attributes": task.attributes,
        "task_addons": task.addons or "{}",
        "task_age": str(max(now - task.date_created, 0) // 1000),
        "task_priority": str(task.priority),
        "task_assignment_status": task.assignment_status.value,
        "task_canceled_reason": task.reason if task.assignment_status == "canceled" else None,
        "task_completed_reason": task.reason if task.assignment_status == "completed" else None,
        "task_channel_sid": task.task_channel_sid,
        "task_channel_unique_name": channel.unique_name if channel else None,
        "task_queue_sid": task.task_queue_sid,
        "task_queue_name": queue.queue.friendly_name if queue else None,
        "task_queue_target_expression": queue.queue.target_workers if queue else None,
        "task_queue_entered_date": _iso(task.task_queue_entered_date),
        "task_date_created": _iso(task.date_created),
        "task_version": str(task.version),
        "workflow_sid": task.workflow_sid,
        "workflow_name": flow.workflow.friendly_name if flow else None,
    }


def worker_data(worker: Worker, index: WorkspaceIndex) -> dict[str, Any]:
    current = index.current(worker)
    return {
        "worker_sid": worker.sid,
        "worker_name": worker.friendly_name,
        "worker_attributes": worker.attributes,
        "worker_activity_sid": current.activity_sid,
        "worker_activity_name": current.activity_name,
        "worker_version": str(worker.version),
    }


def reservation_data(reservation: Reservation) -> dict[str, Any]:
    return {
        "reservation_sid": reservation.sid,
        "reservation_status": reservation.reservation_status.value,
        "reservation_version": str(reservation.version),
    }
