"""A workspace driven through the SDK, with the shortcuts the task and routing tests share
(queues, workers, workflows, tasks, reservations, the manual clock)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from twilio.rest import Client

from switchboard.api.context import Services


def iso(ms: int) -> datetime:
    """Engine milliseconds as the SDK renders a date."""
    return datetime.fromtimestamp(ms / 1000, UTC)


class Env:
    """One workspace driven through the SDK, with the shortcuts routing tests need."""

    def __init__(self, client: Client, services: Services, workspace: Any) -> None:
        self.client, self.services, self.workspace = client, services, workspace
        self.sid: str = workspace.sid
        self.ws = client.taskrouter.v1.workspaces(workspace.sid)
        self.activities = {a.friendly_name: a.sid for a in self.ws.activities.list()}

    def advance(self, seconds: float) -> None:
        """Move the manual clock on and process every deadline that passed."""
        self.services.clock.advance_ms(int(seconds * 1000))  # type: ignore[attr-defined]
        self.services.engine.deadlines.tick()

    def queue(self, name: str, target_workers: str = "1==1", **kw: Any) -> str:
        sid: str = self.ws.task_queues.create(
            friendly_name=name, target_workers=target_workers, **kw
        ).sid
        return sid

    def worker(self, name: str, available: bool = True, **attributes: Any) -> str:
        activity = self.activities["Available" if available else "Offline"]
        sid: str = self.ws.workers.create(
            friendly_name=name, activity_sid=activity, attributes=json.dumps(attributes)
        ).sid
        return sid

    def set_available(self, worker_sid: str, available: bool = True) -> None:
        activity = self.activities["Available" if available else "Offline"]
        self.ws.workers(worker_sid).update(activity_sid=activity)

    def workflow(self, routing: dict[str, Any], name: str = "Flow", **kw: Any) -> str:
        sid: str = self.ws.workflows.create(
            friendly_name=name, configuration=json.dumps({"task_routing": routing}), **kw
        ).sid
        return sid

    def to_queue(self, queue_sid: str, name: str = "Flow") -> str:
        return self.workflow(
            {"filters": [{"expression": "1==1", "targets": [{"queue": queue_sid}]}]}, name
        )

    def task(self, **attributes: Any) -> Any:
        return self.ws.tasks.create(attributes=json.dumps(attributes))

    def fetch(self, task_sid: str) -> Any:
        return self.ws.tasks(task_sid).fetch()

    def reservations(self, task_sid: str | None = None, status: str | None = None) -> list[Any]:
        """A task's reservations through the SDK, oldest first; all of the workspace's (from
        the store) without a task."""
        if task_sid is None:
            found: list[Any] = self.services.store.reservations.find(self.sid)
        else:
            found = self.ws.tasks(task_sid).reservations.list()
        return [r for r in found if status is None or r.reservation_status == status]

    def reserved_workers(self, task_sid: str) -> list[str]:
        return sorted(r.worker_sid for r in self.reservations(task_sid, "pending"))

    def accept(self, task_sid: str) -> None:
        """Accept the task's (only) pending reservation."""
        (reservation,) = self.reservations(task_sid, "pending")
        self.accept_as(task_sid, reservation.worker_sid)

    def accept_as(self, task_sid: str, worker_sid: str) -> None:
        (reservation,) = [
            r for r in self.reservations(task_sid, "pending") if r.worker_sid == worker_sid
        ]
        reservations = self.ws.tasks(task_sid).reservations
        reservations(reservation.sid).update(reservation_status="accepted")

    def events(self, task_sid: str | None = None) -> list[str]:
        return [
            e.event_type
            for e in self.services.store.events.in_order(self.sid)
            if task_sid is None or e.task_sid == task_sid
        ]
