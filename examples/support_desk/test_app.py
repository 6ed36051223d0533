"""The support desk, tested against Switchboard in process: no server, no network, and a
day of waiting in a millisecond. `make test` runs these (tests/testing/test_example.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from twilio.rest import Client

from examples.support_desk.app import create_app
from switchboard.testing import TaskRouter, Workspace, mock_taskrouter

APP_URL = "https://desk.example.com"


@pytest.fixture
def workspace(taskrouter: TaskRouter) -> Workspace:
    """An English and a Spanish queue, two agents, callbacks to the desk."""
    return taskrouter.workspace(
        {
            "queues": {"english": "languages HAS 'en'", "spanish": "languages HAS 'es'"},
            "workers": {
                "alice": {"name": "Alice", "languages": ["en"]},
                "bruno": {"name": "Bruno", "languages": ["es", "en"]},
            },
            "workflow": {"spanish": "language == 'es'", "english": "language == 'en'"},
            "assignment_callback_url": f"{APP_URL}/taskrouter/assignment",
            "event_callback_url": f"{APP_URL}/taskrouter/events",
        }
    )


@pytest.fixture
def desk(taskrouter: TaskRouter, workspace: Workspace) -> Iterator[Any]:
    """The desk's Flask test client. The app builds its own Twilio client, which
    mock_taskrouter points at this test's Switchboard; TaskRouter's callbacks are delivered
    to the app in process."""
    app = create_app(
        {
            "TWILIO_ACCOUNT_SID": taskrouter.account_sid,
            "TWILIO_AUTH_TOKEN": taskrouter.auth_token,
            "WORKSPACE_SID": workspace.sid,
            "WORKFLOW_SID": workspace.workflow or "",
        }
    )
    taskrouter.deliver_callbacks_to(app, base_url=APP_URL)
    with mock_taskrouter(taskrouter):
        yield app.test_client()


def test_a_ticket_goes_to_an_agent_who_speaks_its_language(
    desk: Any, taskrouter: TaskRouter
) -> None:
    ticket = desk.post("/tickets", json={"language": "es", "subject": "¿Dónde está?"}).json
    taskrouter.advance()  # TaskRouter calls back: the assignment, then the events
    shown = desk.get(f"/tickets/{ticket['ticket']}").json
    assert shown == {"subject": "¿Dónde está?", "agent": "Bruno", "status": "assigned"}


def test_a_ticket_nobody_takes_expires_after_a_day(
    desk: Any, taskrouter: TaskRouter, workspace: Workspace
) -> None:
    workspace.set_activity("alice", "Offline")
    workspace.set_activity("bruno", "Offline")
    ticket = desk.post("/tickets", json={"language": "en", "subject": "Hello"}).json["ticket"]
    taskrouter.advance(24 * 3600 - 1)
    assert desk.get(f"/tickets/{ticket}").json["status"] == "waiting"
    taskrouter.advance(1)
    assert desk.get(f"/tickets/{ticket}").json["status"] == "expired"
    assert taskrouter.event_types()[-1] == "task.canceled"


@mock_taskrouter()
def test_unmodified_code_runs_under_mock_taskrouter() -> None:
    """No fixture at all: every Client made inside the decorated test talks to a fresh
    Switchboard, whatever its credentials."""
    setup = Client("AC" + "5" * 32, "any-token")
    workspace = setup.taskrouter.v1.workspaces.create(friendly_name="Desk")
    queue = workspace.task_queues.create(friendly_name="all", target_workers="1 == 1")
    workflow = workspace.workflows.create(
        friendly_name="desk",
        configuration=json.dumps({"task_routing": {"default_filter": {"queue": queue.sid}}}),
    )
    app = create_app(
        {
            "TWILIO_ACCOUNT_SID": "AC" + "5" * 32,
            "TWILIO_AUTH_TOKEN": "any-token",
            "WORKSPACE_SID": workspace.sid,
            "WORKFLOW_SID": workflow.sid,
        }
    )
    response = app.test_client().post("/tickets", json={"language": "en", "subject": "Hi"})
    task = workspace.tasks(response.get_json()["ticket"]).fetch()
    assert task.assignment_status == "pending"  # nobody is available
