"""Workspaces set up for tests: one driven through the SDK, with the shortcuts the task and
routing tests share (queues, workers, workflows, tasks, reservations, the manual clock), and one
built through the engine whose workflow sends assignment callbacks, for the callback tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from twilio.rest import Client

from switchboard.api.context import Services
from tests.support.constants import ACCOUNT_SID


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


class Desk:
    """A workspace whose workflow sends assignment callbacks to `url` (then `fallback`), with
    one queue and `workers` available workers. Built through the engine, so the same desk
    serves the SDK tests and the sender ones."""

    def __init__(
        self, services: Services, url: str, fallback: str | None = None, workers: int = 1
    ) -> None:
        engine = self.engine = services.engine
        self.services = services
        self.sid = engine.workspaces.create_workspace(ACCOUNT_SID, friendly_name="Callbacks").sid
        self.activities = {a.friendly_name: a.sid for a in services.store.list_activities(self.sid)}
        queue = engine.task_queues.create_task_queue(self.sid, friendly_name="Support").sid
        self.workers = [
            engine.workers.create_worker(
                self.sid, friendly_name=f"w{n}", activity_sid=self.activities["Available"],
                attributes=json.dumps({"skills": ["en"], "n": n}),
            ).sid
            for n in range(workers)
        ]  # fmt: skip
        routing = {"filters": [], "default_filter": {"queue": queue}}
        self.workflow = engine.workflows.create_workflow(
            self.sid, friendly_name="Flow", configuration=json.dumps({"task_routing": routing}),
            assignment_callback_url=url, fallback_assignment_callback_url=fallback,
        ).sid  # fmt: skip

    def task(self, **attributes: Any) -> tuple[str, str]:
        """A new task and the reservation it was offered through."""
        task = self.engine.tasks.create_task(
            self.sid, attributes=json.dumps(attributes), workflow_sid=self.workflow, priority=3
        )
        found = self.services.store.reservations.find(self.sid, task_sid=task.sid)
        assert len(found) == 1
        return task.sid, found[0].sid

    def status(self, reservation_sid: str) -> str:
        found = self.services.store.reservations.get(self.sid, reservation_sid)
        assert found is not None
        return found.reservation_status.value

    def outbox(self, reservation_sid: str) -> tuple[str, int, str | None]:
        state = self.services.store.assignment_callbacks.state(reservation_sid)
        assert state is not None
        return state

    def settled(self, reservation_sid: str) -> tuple[str, int, str | None] | None:
        """The outbox row once delivery has ended, else None."""
        state = self.outbox(reservation_sid)
        return state if state[0] != "pending" else None
