"""taskrouter_server: the same Switchboard over a real loopback port."""

from __future__ import annotations

import httpx
import pytest
from flask import Flask

from switchboard.testing import CallbackTargetError, TaskRouter


def test_the_sdk_and_plain_http_reach_it(taskrouter_server: TaskRouter) -> None:
    assert taskrouter_server.url.startswith("http://127.0.0.1:")
    ws = taskrouter_server.workspace({"queues": {"all": "1 == 1"}, "workers": {"w": {}}})
    assert ws.api.fetch().url == f"{taskrouter_server.url}/v1/Workspaces/{ws.sid}"
    listed = httpx.get(
        f"{taskrouter_server.url}/v1/Workspaces",
        auth=(taskrouter_server.account_sid, taskrouter_server.auth_token),
    ).json()
    assert [w["sid"] for w in listed["workspaces"]] == [ws.sid]


def test_time_and_callbacks_work_as_in_process(taskrouter_server: TaskRouter) -> None:
    app = Flask("target")
    seen: list[str] = []
    app.add_url_rule(
        "/assign", "assign", lambda: seen.append("assigned") or {"instruction": "accept"},
        methods=["POST"],
    )  # fmt: skip
    taskrouter_server.deliver_callbacks_to(app)
    ws = taskrouter_server.workspace(
        {
            "queues": {"all": "1 == 1"},
            "workers": {"w": {}},
            "assignment_callback_url": "http://app.test/assign",
        }
    )
    task = ws.create_task({}, timeout=60)
    taskrouter_server.advance()
    assert seen == ["assigned"]
    assert ws.reservations(task)[0].reservation_status == "accepted"
    taskrouter_server.advance(3600)
    assert taskrouter_server.now.hour == 1


def test_a_failing_target_fails_the_step_with_its_exception(taskrouter_server: TaskRouter) -> None:
    app = Flask("target")
    app.testing = True

    @app.post("/assign")
    def assign() -> str:
        raise LookupError("no such ticket")

    taskrouter_server.deliver_callbacks_to(app)
    ws = taskrouter_server.workspace(
        {"queues": {"all": "1 == 1"}, "workers": {"w": {}},
         "assignment_callback_url": "http://app.test/assign"}
    )  # fmt: skip
    ws.create_task({})
    with pytest.raises(CallbackTargetError, match="no such ticket") as caught:
        taskrouter_server.advance()
    assert isinstance(caught.value.__cause__, LookupError)
