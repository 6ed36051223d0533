"""The worker SDK's payload shapes, which are not the REST API's.

The SDK's descriptors (`lib/descriptors/*` in twilio-taskrouter) demand their own fields:
dates in epoch seconds (a channel's `last_reserved_time` in milliseconds), a `version` on
workers, tasks and reservations, reservations that embed their whole task, `queue_name` and
`workflow_name` rather than the REST `*_friendly_name`, and lists as `{contents, after_sid}`.
A descriptor missing one field throws inside the SDK, so every field is always present.

Workers, tasks, reservations and channels are rendered from their records (they carry the
version); activities and task queues from the REST answer, which holds all the SDK reads.
"""

from __future__ import annotations

import calendar
import functools
import time
from collections.abc import Iterable
from typing import Any

from switchboard.models import (
    Activity,
    Reservation,
    Task,
    Transfer,
    TransferStatus,
    Worker,
    WorkerChannel,
)
from switchboard.storage import Store

_DATE_FIELDS = ("date_created", "date_updated", "date_status_changed")


def _seconds(ms: int | None) -> int | None:
    return None if ms is None else ms // 1000


def _from_iso(text: Any) -> Any:
    """REST's YYYY-MM-DDTHH:MM:SSZ as epoch seconds (anything else unchanged)."""
    if not isinstance(text, str):
        return text
    return _seconds_of(text)


@functools.lru_cache(maxsize=4096)
def _seconds_of(text: str) -> int | str:
    """Parsed once per moment: a workspace's rows share a few (strptime is slow)."""
    try:
        return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return text


def from_rest(item: dict[str, Any]) -> dict[str, Any]:
    """A REST resource with its dates in epoch seconds and without its URLs."""
    out = {k: v for k, v in item.items() if k not in ("url", "links")}
    for name in _DATE_FIELDS:
        if name in out:
            out[name] = _from_iso(out[name])
    return out


def page(contents: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One page holding everything: `after_sid` null tells the SDK there is no next page."""
    return {"contents": list(contents), "after_sid": None}


def activity(rest: dict[str, Any]) -> dict[str, Any]:
    return from_rest(rest)


def activity_record(a: Activity) -> dict[str, Any]:
    return {
        "account_sid": a.account_sid,
        "available": a.available,
        "date_created": _seconds(a.date_created),
        "date_updated": _seconds(a.date_updated),
        "friendly_name": a.friendly_name,
        "sid": a.sid,
        "workspace_sid": a.workspace_sid,
    }


def task_queue(rest: dict[str, Any]) -> dict[str, Any]:
    out = from_rest(rest)
    out.setdefault("lifo_queue", out.get("task_order") == "LIFO")
    return out


def worker(w: Worker, *, version: int | None = None) -> dict[str, Any]:
    """The worker; `version` in place of its own when pushed for an earlier event."""
    return {
        "account_sid": w.account_sid,
        "activity_name": w.activity_name,
        "activity_sid": w.activity_sid,
        "attributes": w.attributes,
        "available": w.available,
        "date_created": _seconds(w.date_created),
        "date_status_changed": _seconds(w.date_status_changed),
        "date_updated": _seconds(w.date_updated),
        "friendly_name": w.friendly_name,
        "sid": w.sid,
        "workspace_sid": w.workspace_sid,
        "version": w.version if version is None else version,
    }


def channel_from_rest(rest: dict[str, Any]) -> dict[str, Any]:
    out = from_rest(rest)
    out.setdefault("last_reserved_time", None)
    return out


def worker_channel(c: WorkerChannel, last_reserved_ms: int | None = None) -> dict[str, Any]:
    return {
        "account_sid": c.account_sid,
        "assigned_tasks": c.assigned_tasks,
        "available": c.available,
        "available_capacity_percentage": c.available_capacity_percentage,
        "configured_capacity": c.configured_capacity,
        "date_created": _seconds(c.date_created),
        "date_updated": _seconds(c.date_updated),
        "last_reserved_time": last_reserved_ms,
        "sid": c.sid,
        "task_channel_sid": c.task_channel_sid,
        "task_channel_unique_name": c.task_channel_unique_name,
        "worker_sid": c.worker_sid,
        "workspace_sid": c.workspace_sid,
    }


def task(t: Task, now_ms: int) -> dict[str, Any]:
    return {
        "account_sid": t.account_sid,
        "addons": t.addons or "{}",
        "age": max(now_ms - t.date_created, 0) // 1000,
        "assignment_status": t.assignment_status.value,
        "attributes": t.attributes,
        "date_created": _seconds(t.date_created),
        "date_updated": _seconds(t.date_updated),
        "priority": t.priority,
        "queue_name": t.task_queue_name,
        "queue_sid": t.task_queue_sid,
        "reason": t.reason,
        "routing_target": t.routing_target,
        "sid": t.sid,
        "task_channel_sid": t.task_channel_sid,
        "task_channel_unique_name": t.task_channel_unique_name,
        "timeout": t.timeout,
        "workflow_name": t.workflow_name,
        "workflow_sid": t.workflow_sid,
        "workspace_sid": t.workspace_sid,
        "version": t.version,
        "virtual_start_time": _seconds(t.virtual_start_time),
    }


def reservation(r: Reservation, t: Task | None, now_ms: int) -> dict[str, Any]:
    """The reservation with its task. `reservation_timeout` is what was left of the offer
    when it was made (seconds); once answered it no longer runs and reads 0."""
    timeout = 0
    if r.timeout_deadline is not None:
        timeout = max(r.timeout_deadline - r.date_created, 0) // 1000
    return {
        "account_sid": r.account_sid,
        "date_created": _seconds(r.date_created),
        "date_updated": _seconds(r.date_updated),
        "reservation_status": r.reservation_status.value,
        "reservation_timeout": timeout,
        "sid": r.sid,
        "task_sid": r.task_sid,
        "worker_name": r.worker_name,
        "worker_sid": r.worker_sid,
        "workspace_sid": r.workspace_sid,
        "version": r.version,
        "task": None if t is None else task(t, now_ms),
    }


def transfer(t: Transfer) -> dict[str, Any]:
    """The SDK's TransferDescriptor fields (all of them: a missing one throws), and
    `task_sid`, which its OutgoingTransfer is made with."""
    return {
        "account_sid": t.account_sid,
        "date_created": _seconds(t.date_created),
        "date_updated": _seconds(t.date_updated),
        "initiating_queue_sid": t.initiating_queue_sid,
        "initiating_reservation_sid": t.initiating_reservation_sid,
        "initiating_worker_sid": t.initiating_worker_sid,
        "initiating_workflow_sid": t.initiating_workflow_sid,
        "sid": t.sid,
        "task_sid": t.task_sid,
        "transfer_failed_reason": t.transfer_failed_reason,
        "transfer_mode": t.transfer_mode,
        "transfer_status": t.transfer_status.value,
        "transfer_to": t.transfer_to,
        "transfer_type": t.transfer_type,
        "workspace_sid": t.workspace_sid,
    }


def reservation_as_it_stands(
    store: Store, workspace_sid: str, r: Reservation, now_ms: int
) -> dict[str, Any]:
    """The reservation with its task as stored now and, for a task that was ever
    transferred, the transfer that offered it (`task_transfer`) and the one it started that
    is still under way (`active_outgoing_task_transfer`). The SDK reads a key it finds as a
    transfer (even null, which throws), so an absent transfer is an absent key."""
    t = store.tasks.get(workspace_sid, r.task_sid)
    out = reservation(r, t, now_ms)
    if t is None or t.transfer_sid is None:
        return out
    incoming = store.transfers.of_reservation(workspace_sid, r.sid)
    if incoming is not None:
        out["task_transfer"] = transfer(incoming)
    latest = store.transfers.get(workspace_sid, t.transfer_sid)
    if (
        latest is not None
        and latest.initiating_reservation_sid == r.sid
        and latest.transfer_status == TransferStatus.INITIATED
    ):
        out["active_outgoing_task_transfer"] = transfer(latest)
    return out
