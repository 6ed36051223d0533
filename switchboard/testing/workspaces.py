"""A workspace from a short dict, built through the SDK as a test would build it by hand.

    {
        "name": "Support",                                  # friendly name
        "activities": {"Break": False},                     # more activities: name → available
        "queues": {"english": "languages HAS 'en'"},        # name → target workers expression
        "workers": {"alice": {"languages": ["en"]}},        # name → attributes
        "worker_activity": "Available",                     # the activity workers start in
        "workflow": {"english": "language == 'en'"},        # queue → filter expression, in order
        "task_reservation_timeout": 120,                    # and any other Workflow parameter
        "assignment_callback_url": "https://app.test/assign",
        "event_callback_url": "https://app.test/events",    # and any other Workspace parameter
    }

Every key is optional. The workspace keeps Twilio's default activities (Offline, Available,
Unavailable). A task no filter matches (every task, without "workflow") goes to the first
queue; a "workflow" holding "task_routing" is taken as the whole configuration, where a
"queue" may be given by name. A queue may be a dict of TaskQueue parameters (snake_case, as
the SDK takes them) instead of an expression.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from twilio.rest import Client

WorkspaceSpec = dict[str, Any]

_OWN_KEYS = {"name", "activities", "queues", "workers", "worker_activity", "workflow"}
_WORKFLOW_KEYS = {
    "assignment_callback_url",
    "fallback_assignment_callback_url",
    "task_reservation_timeout",
}


@dataclass
class Workspace:
    """What `TaskRouter.workspace` built: SIDs by the names the spec gave."""

    client: Client
    sid: str
    activities: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)
    workers: dict[str, str] = field(default_factory=dict)
    workflow: str | None = None

    @property
    def api(self) -> Any:
        """The SDK's WorkspaceContext (`.tasks`, `.workers`, `.events` …)."""
        return self.client.taskrouter.v1.workspaces(self.sid)

    def create_task(self, attributes: dict[str, Any] | None = None, **params: Any) -> Any:
        """A task through the workspace's workflow (the SDK's TaskInstance)."""
        params.setdefault("workflow_sid", self.workflow)
        return self.api.tasks.create(attributes=json.dumps(attributes or {}), **params)

    def set_activity(self, worker: str, activity: str) -> Any:
        """Move a worker (by name) to an activity (by name)."""
        return self.api.workers(self.workers[worker]).update(activity_sid=self.activities[activity])

    def reservations(self, task: Any) -> list[Any]:
        """A task's reservations (by TaskInstance or SID), oldest first."""
        sid = task if isinstance(task, str) else task.sid
        return list(reversed(self.api.tasks(sid).reservations.list()))


def build_workspace(client: Client, spec: WorkspaceSpec) -> Workspace:
    unknown = set(spec) - _OWN_KEYS - _WORKFLOW_KEYS
    params = {k: v for k, v in spec.items() if k in unknown}
    try:
        created = client.taskrouter.v1.workspaces.create(
            friendly_name=spec.get("name", "Test Workspace"), **params
        )
    except TypeError as error:
        raise TypeError(f"workspace(): {error}; see switchboard.testing.workspaces") from None
    built = Workspace(client, created.sid)
    api = built.api
    built.activities = {a.friendly_name: a.sid for a in api.activities.list()}
    for name, available in (spec.get("activities") or {}).items():
        if name not in built.activities:
            built.activities[name] = api.activities.create(
                friendly_name=name, available=available
            ).sid
    for name, queue in (spec.get("queues") or {}).items():
        fields = {"target_workers": queue} if isinstance(queue, str) else dict(queue)
        built.queues[name] = api.task_queues.create(friendly_name=name, **fields).sid
    start = built.activities[spec.get("worker_activity", "Available")]
    for name, attributes in (spec.get("workers") or {}).items():
        built.workers[name] = api.workers.create(
            friendly_name=name, attributes=json.dumps(attributes or {}), activity_sid=start
        ).sid
    if built.queues or "workflow" in spec:
        settings = {k: v for k, v in spec.items() if k in _WORKFLOW_KEYS}
        built.workflow = api.workflows.create(
            friendly_name="Test Workflow",
            configuration=json.dumps(_configuration(spec.get("workflow"), built.queues)),
            **settings,
        ).sid
    return built


def _configuration(workflow: dict[str, Any] | None, queues: dict[str, str]) -> dict[str, Any]:
    if workflow and "task_routing" in workflow:
        named: dict[str, Any] = _queue_names_to_sids(workflow, queues)
        return named
    filters = [
        {"filter_friendly_name": name, "expression": expression,
         "targets": [{"queue": queues[name]}]}
        for name, expression in (workflow or {}).items()
    ]  # fmt: skip
    routing: dict[str, Any] = {"filters": filters}
    if queues:
        routing["default_filter"] = {"queue": next(iter(queues.values()))}
    return {"task_routing": routing}


def _queue_names_to_sids(value: Any, queues: dict[str, str]) -> Any:
    """A full configuration may name its queues as the spec does: each "queue" value that is
    one of those names becomes the queue's SID."""
    if isinstance(value, dict):
        return {
            k: queues.get(v, v) if k == "queue" and isinstance(v, str)
            else _queue_names_to_sids(v, queues)
            for k, v in value.items()
        }  # fmt: skip
    if isinstance(value, list):
        return [_queue_names_to_sids(item, queues) for item in value]
    return value
