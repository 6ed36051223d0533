"""Twilio response conventions: snake_case JSON, absolute `url` and `links`, ISO dates.

This module is the only place that knows the wire names of response fields.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.responses import Response

from switchboard.fastjson import dumps_bytes
from switchboard.models import (
    Activity,
    Event,
    Reservation,
    Task,
    TaskChannel,
    TaskQueue,
    Worker,
    WorkerChannel,
    Workflow,
    Workspace,
)
from switchboard.statistics import (
    Cumulative,
    Duration,
    RealTime,
    WorkersCumulative,
)

JSON_TYPE = "application/json; charset=utf-8"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    content = dumps_bytes(body)
    return Response(content, status_code=status, media_type=JSON_TYPE, headers=headers)


def no_content() -> Response:
    return Response(status_code=204)


def date(ms: int | None) -> str | None:
    """Twilio's exact date form: YYYY-MM-DDTHH:MM:SSZ, UTC, whole seconds."""
    if ms is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def workspace(ws: Workspace, base: str) -> dict[str, Any]:
    url = f"{base}/v1/Workspaces/{ws.sid}"
    return {
        "account_sid": ws.account_sid,
        "date_created": date(ws.date_created),
        "date_updated": date(ws.date_updated),
        "default_activity_name": ws.default_activity_name,
        "default_activity_sid": ws.default_activity_sid,
        "event_callback_url": ws.event_callback_url or "",
        "events_filter": ws.events_filter,
        "friendly_name": ws.friendly_name,
        "multi_task_enabled": ws.multi_task_enabled,
        "sid": ws.sid,
        "timeout_activity_name": ws.timeout_activity_name,
        "timeout_activity_sid": ws.timeout_activity_sid,
        "prioritize_queue_order": ws.prioritize_queue_order.value,
        "url": url,
        "links": {
            "activities": f"{url}/Activities",
            "statistics": f"{url}/Statistics",
            "real_time_statistics": f"{url}/RealTimeStatistics",
            "cumulative_statistics": f"{url}/CumulativeStatistics",
            "task_queues": f"{url}/TaskQueues",
            "tasks": f"{url}/Tasks",
            "workers": f"{url}/Workers",
            "workflows": f"{url}/Workflows",
            "task_channels": f"{url}/TaskChannels",
            "events": f"{url}/Events",
        },
    }


def activity(a: Activity, base: str) -> dict[str, Any]:
    ws_url = f"{base}/v1/Workspaces/{a.workspace_sid}"
    return {
        "account_sid": a.account_sid,
        "available": a.available,
        "date_created": date(a.date_created),
        "date_updated": date(a.date_updated),
        "friendly_name": a.friendly_name,
        "sid": a.sid,
        "workspace_sid": a.workspace_sid,
        "url": f"{ws_url}/Activities/{a.sid}",
        "links": {"workspace": ws_url},
    }


def task_channel(c: TaskChannel, base: str) -> dict[str, Any]:
    ws_url = f"{base}/v1/Workspaces/{c.workspace_sid}"
    return {
        "account_sid": c.account_sid,
        "date_created": date(c.date_created),
        "date_updated": date(c.date_updated),
        "friendly_name": c.friendly_name,
        "sid": c.sid,
        "unique_name": c.unique_name,
        "workspace_sid": c.workspace_sid,
        "channel_optimized_routing": c.channel_optimized_routing,
        "url": f"{ws_url}/TaskChannels/{c.sid}",
        "links": {"workspace": ws_url},
    }


def task_queue(q: TaskQueue, base: str) -> dict[str, Any]:
    ws_url = f"{base}/v1/Workspaces/{q.workspace_sid}"
    url = f"{ws_url}/TaskQueues/{q.sid}"
    links = {
        "workspace": ws_url,
        "statistics": f"{url}/Statistics",
        "real_time_statistics": f"{url}/RealTimeStatistics",
        "cumulative_statistics": f"{url}/CumulativeStatistics",
        "list_statistics": f"{ws_url}/TaskQueues/Statistics",
        "bulk_real_time_statistics": f"{ws_url}/TaskQueues/RealTimeStatistics",
    }
    if q.assignment_activity_sid:
        links["assignment_activity"] = f"{ws_url}/Activities/{q.assignment_activity_sid}"
    if q.reservation_activity_sid:
        links["reservation_activity"] = f"{ws_url}/Activities/{q.reservation_activity_sid}"
    return {
        "account_sid": q.account_sid,
        "assignment_activity_sid": q.assignment_activity_sid,
        "assignment_activity_name": q.assignment_activity_name,
        "date_created": date(q.date_created),
        "date_updated": date(q.date_updated),
        "friendly_name": q.friendly_name,
        "max_reserved_workers": q.max_reserved_workers,
        "reservation_activity_sid": q.reservation_activity_sid,
        "reservation_activity_name": q.reservation_activity_name,
        "sid": q.sid,
        "target_workers": q.target_workers,
        "task_order": q.task_order.value,
        "url": url,
        "workspace_sid": q.workspace_sid,
        "links": links,
    }


def worker(w: Worker, base: str, *, attributes: bool = True) -> dict[str, Any]:
    ws_url = f"{base}/v1/Workspaces/{w.workspace_sid}"
    url = f"{ws_url}/Workers/{w.sid}"
    return {
        "account_sid": w.account_sid,
        "activity_name": w.activity_name,
        "activity_sid": w.activity_sid,
        "attributes": w.attributes if attributes else None,
        "available": w.available,
        "date_created": date(w.date_created),
        "date_status_changed": date(w.date_status_changed),
        "date_updated": date(w.date_updated),
        "friendly_name": w.friendly_name,
        "sid": w.sid,
        "workspace_sid": w.workspace_sid,
        "url": url,
        "links": {
            "channels": f"{url}/Channels",
            "activity": f"{ws_url}/Activities/{w.activity_sid}",
            "workspace": ws_url,
            "statistics": f"{ws_url}/Workers/Statistics",
            "real_time_statistics": f"{ws_url}/Workers/RealTimeStatistics",
            "cumulative_statistics": f"{ws_url}/Workers/CumulativeStatistics",
            "worker_statistics": f"{url}/Statistics",
            "worker_channels": f"{url}/Channels",
            "reservations": f"{url}/Reservations",
        },
    }


def worker_channel(c: WorkerChannel, base: str) -> dict[str, Any]:
    return {
        "account_sid": c.account_sid,
        "assigned_tasks": c.assigned_tasks,
        "available": c.available,
        "available_capacity_percentage": c.available_capacity_percentage,
        "configured_capacity": c.configured_capacity,
        "date_created": date(c.date_created),
        "date_updated": date(c.date_updated),
        "sid": c.sid,
        "task_channel_sid": c.task_channel_sid,
        "task_channel_unique_name": c.task_channel_unique_name,
        "worker_sid": c.worker_sid,
        "workspace_sid": c.workspace_sid,
        "url": f"{base}/v1/Workspaces/{c.workspace_sid}/Workers/{c.worker_sid}/Channels/{c.sid}",
    }


def etag(version: int) -> dict[str, str]:
    """The ETag header for a versioned resource (Worker, Task, Reservation)."""
    return {"ETag": str(version)}


def workflow(w: Workflow, base: str) -> dict[str, Any]:
    url = f"{base}/v1/Workspaces/{w.workspace_sid}/Workflows/{w.sid}"
    return {
        "account_sid": w.account_sid,
        "assignment_callback_url": w.assignment_callback_url,
        "configuration": w.configuration,
        "date_created": date(w.date_created),
        "date_updated": date(w.date_updated),
        "document_content_type": "application/json",
        "fallback_assignment_callback_url": w.fallback_assignment_callback_url,
        "friendly_name": w.friendly_name,
        "sid": w.sid,
        "task_reservation_timeout": w.task_reservation_timeout,
        "workspace_sid": w.workspace_sid,
        "url": url,
        "links": {
            "statistics": f"{url}/Statistics",
            "real_time_statistics": f"{url}/RealTimeStatistics",
            "cumulative_statistics": f"{url}/CumulativeStatistics",
        },
    }


def task(t: Task, base: str, *, now: int, attributes: bool = True) -> dict[str, Any]:
    """`now` (the engine clock) gives the age; `attributes=False` is Twilio's list redaction."""
    ws_url = f"{base}/v1/Workspaces/{t.workspace_sid}"
    url = f"{ws_url}/Tasks/{t.sid}"
    links = {"workspace": ws_url, "reservations": f"{url}/Reservations"}
    if t.task_queue_sid:
        links["task_queue"] = f"{ws_url}/TaskQueues/{t.task_queue_sid}"
    if t.workflow_sid:
        links["workflow"] = f"{ws_url}/Workflows/{t.workflow_sid}"
    return {
        "account_sid": t.account_sid,
        "age": max(now - t.date_created, 0) // 1000,
        "assignment_status": t.assignment_status.value,
        "attributes": t.attributes if attributes else None,
        "addons": t.addons or "{}",
        "date_created": date(t.date_created),
        "date_updated": date(t.date_updated),
        "task_queue_entered_date": date(t.task_queue_entered_date),
        "priority": t.priority,
        "reason": t.reason,
        "sid": t.sid,
        "task_queue_sid": t.task_queue_sid,
        "task_queue_friendly_name": t.task_queue_name,
        "task_channel_sid": t.task_channel_sid,
        "task_channel_unique_name": t.task_channel_unique_name,
        "timeout": t.timeout,
        "workflow_sid": t.workflow_sid,
        "workflow_friendly_name": t.workflow_name,
        "workspace_sid": t.workspace_sid,
        "url": url,
        "links": links,
        "virtual_start_time": date(t.virtual_start_time),
        "ignore_capacity": t.ignore_capacity,
        "routing_target": t.routing_target,
    }


def reservation(r: Reservation, base: str, *, via_worker: bool) -> dict[str, Any]:
    """One reservation; its `url` follows the path it was reached by (task or worker view)."""
    ws_url = f"{base}/v1/Workspaces/{r.workspace_sid}"
    task_url = f"{ws_url}/Tasks/{r.task_sid}"
    worker_url = f"{ws_url}/Workers/{r.worker_sid}"
    return {
        "account_sid": r.account_sid,
        "date_created": date(r.date_created),
        "date_updated": date(r.date_updated),
        "reservation_status": r.reservation_status.value,
        "sid": r.sid,
        "task_sid": r.task_sid,
        "worker_name": r.worker_name,
        "worker_sid": r.worker_sid,
        "workspace_sid": r.workspace_sid,
        "url": f"{worker_url if via_worker else task_url}/Reservations/{r.sid}",
        "links": {"task": task_url, "worker": worker_url, "workspace": ws_url},
    }


# Where each event resource_type lives under its workspace's URL.
_EVENT_RESOURCE_PATHS = {
    "activity": "Activities",
    "task": "Tasks",
    "task_channel": "TaskChannels",
    "task_queue": "TaskQueues",
    "worker": "Workers",
    "workflow": "Workflows",
}


def _event_resource_url(ws_url: str, kind: str, sid: str, task_sid: str | None) -> str | None:
    if kind == "workspace":
        return ws_url
    if kind == "reservation":
        return f"{ws_url}/Tasks/{task_sid}/Reservations/{sid}" if task_sid else None
    folder = _EVENT_RESOURCE_PATHS.get(kind)
    return f"{ws_url}/{folder}/{sid}" if folder else None


def event(e: Event, base: str, *, redact_task_attributes: bool = False) -> dict[str, Any]:
    """One event; `event_data` is an object. Without a recorded actor the workspace acted
    (every change comes through its API or its own timers), as Twilio's examples show."""
    ws_url = f"{base}/v1/Workspaces/{e.workspace_sid}"
    data = e.event_data()
    if redact_task_attributes and "task_attributes" in data:
        data["task_attributes"] = None
    actor_type = e.actor_type or "workspace"
    actor_sid = e.actor_sid or e.workspace_sid
    return {
        "account_sid": e.account_sid,
        "actor_sid": actor_sid,
        "actor_type": actor_type,
        "actor_url": _event_resource_url(ws_url, actor_type, actor_sid, None),
        "description": e.description,
        "event_data": data,
        "event_date": date(e.event_date),
        "event_date_ms": e.event_date,
        "event_type": e.event_type,
        "resource_sid": e.resource_sid,
        "resource_type": e.resource_type,
        "resource_url": _event_resource_url(ws_url, e.resource_type, e.resource_sid, e.task_sid),
        "sid": e.sid,
        "source": "twilio",
        "source_ip_address": e.source_ip_address,
        "url": f"{ws_url}/Events/{e.sid}",
        "workspace_sid": e.workspace_sid,
    }


# -- statistics -------------------------------------------------------------------------------

_REAL_TIME_FIELDS = {
    "workspace": (
        "activity_statistics", "longest_task_waiting_age", "longest_task_waiting_sid",
        "tasks_by_priority", "tasks_by_status", "total_tasks", "total_workers",
    ),
    "task_queue": (
        "activity_statistics", "longest_task_waiting_age", "longest_task_waiting_sid",
        "longest_relative_task_age_in_queue", "longest_relative_task_sid_in_queue",
        "tasks_by_priority", "tasks_by_status", "total_available_workers",
        "total_eligible_workers", "total_tasks",
    ),
    # One item of the bulk TaskQueues/RealTimeStatistics answer.
    "task_queue_bulk": (
        "longest_task_waiting_age", "longest_task_waiting_sid", "total_tasks",
        "total_eligible_workers", "total_available_workers", "tasks_by_status",
        "tasks_by_priority", "activity_statistics",
    ),
    "workflow": (
        "longest_task_waiting_age", "longest_task_waiting_sid", "tasks_by_priority",
        "tasks_by_status", "total_tasks",
    ),
    "workers": ("activity_statistics", "total_workers"),
}  # fmt: skip
_RESERVATION_COUNTS = (
    "reservations_created", "reservations_accepted", "reservations_rejected",
    "reservations_timed_out", "reservations_canceled", "reservations_rescinded",
)  # fmt: skip
_CUMULATIVE_COUNTS = {
    "workspace": (
        *_RESERVATION_COUNTS, "tasks_canceled", "tasks_completed", "tasks_created",
        "tasks_deleted", "tasks_moved", "tasks_timed_out_in_workflow",
    ),
    "task_queue": (
        *_RESERVATION_COUNTS, "tasks_canceled", "tasks_completed", "tasks_deleted",
        "tasks_entered", "tasks_moved",
    ),
    "workflow": (
        *_RESERVATION_COUNTS, "tasks_canceled", "tasks_completed", "tasks_deleted",
        "tasks_entered", "tasks_moved", "tasks_timed_out_in_workflow",
    ),
}  # fmt: skip


def real_time_figures(kind: str, f: RealTime) -> dict[str, Any]:
    """The real-time fields of a workspace, task_queue, task_queue_bulk item, workflow or
    workers, as they appear inside `realtime` (the resources add account, scope and url)."""
    body: dict[str, Any] = {}
    for name in _REAL_TIME_FIELDS[kind]:
        value = getattr(f, name)
        if name == "activity_statistics":
            value = [{"sid": a.sid, "friendly_name": a.friendly_name, "workers": a.workers}
                     for a in value]  # fmt: skip
        elif isinstance(value, dict):
            value = dict(value)
        body[name] = value
    return body


def _duration(d: Duration) -> dict[str, int]:
    return {"avg": d.avg, "min": d.min, "max": d.max, "total": d.total}


def _split_side(canceled: int, accepted: int) -> dict[str, int]:
    return {"tasks_canceled": canceled, "reservations_accepted": accepted}


def cumulative_figures(kind: str, f: Cumulative, *, nested: bool) -> dict[str, Any]:
    """The cumulative fields of a workspace, task_queue or workflow. Nested in `cumulative`,
    avg_task_acceptance_time is a number with a fraction (0.0), as Twilio's examples show."""
    body: dict[str, Any] = {name: f.count(name) for name in _CUMULATIVE_COUNTS[kind]}
    avg = f.avg_task_acceptance_time
    body["avg_task_acceptance_time"] = float(avg) if nested else avg
    body["wait_duration_until_accepted"] = _duration(f.wait_duration_until_accepted)
    body["wait_duration_until_canceled"] = _duration(f.wait_duration_until_canceled)
    if kind == "task_queue":
        body["wait_duration_in_queue_until_accepted"] = _duration(
            f.wait_duration_in_queue_until_accepted
        )
    splits = f.split_by_wait_time
    body["split_by_wait_time"] = None if splits is None else {
        str(threshold): {
            "above": _split_side(s.above_canceled, s.above_accepted),
            "below": _split_side(s.below_canceled, s.below_accepted),
        }
        for threshold, s in splits.items()
    }  # fmt: skip
    body["start_time"] = date(f.window.start)
    body["end_time"] = date(f.window.end)
    return body


def workers_cumulative_figures(f: WorkersCumulative) -> dict[str, Any]:
    body: dict[str, Any] = {name: f.count(name) for name in _RESERVATION_COUNTS}
    body["activity_durations"] = [
        {"sid": a.sid, "friendly_name": a.friendly_name, **_duration(a.duration)}
        for a in f.activity_durations
    ]
    body["start_time"] = date(f.window.start)
    body["end_time"] = date(f.window.end)
    return body


def statistics(
    account_sid: str, workspace_sid: str, url: str | None, **fields: Any
) -> dict[str, Any]:
    """A statistics resource: its figures between the account and the workspace and url
    (`url` None: an item of the TaskQueues/Statistics list, which has none)."""
    body = {"account_sid": account_sid, **fields, "workspace_sid": workspace_sid}
    if url is not None:
        body["url"] = url
    return body
