"""Callbacks delivered into the application under test, in process, at each clock step."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qsl

import pytest
from flask import Flask, request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from switchboard.testing import CallbackTargetError, TaskRouter, Workspace

APP = "https://app.example.com"


def flask_app(auth_token: str, answer: Any = None) -> tuple[Flask, list[dict[str, str]]]:
    """Records every callback it is sent (after validating its signature) and answers
    `answer` to assignments: a dict (JSON), or a callable given the form."""
    app = Flask("target")
    app.testing = True  # exceptions propagate, as a test wants
    seen: list[dict[str, str]] = []
    validator = RequestValidator(auth_token)

    @app.post("/<path:kind>")
    def callback(kind: str) -> Any:
        form = request.form.to_dict()
        signature = request.headers.get("X-Twilio-Signature", "")
        form["valid"] = str(validator.validate(request.url, form, signature))
        form["kind"] = kind
        seen.append(form)
        if kind == "assign":
            return answer(form) if callable(answer) else (answer or {})
        return ""

    return app, seen


def support(taskrouter: TaskRouter, **extra: Any) -> Workspace:
    return taskrouter.workspace(
        {
            "queues": {"all": "1 == 1"},
            "workers": {"alice": {"name": "Alice"}},
            "assignment_callback_url": f"{APP}/assign",
            **extra,
        }
    )


def test_an_assignment_arrives_signed_at_the_next_step(taskrouter: TaskRouter) -> None:
    app, seen = flask_app(taskrouter.auth_token, {"instruction": "accept"})
    taskrouter.deliver_callbacks_to(app, base_url=APP)
    ws = support(taskrouter)
    task = ws.create_task({"order": 7})
    assert seen == []  # never before the request that caused it has answered
    taskrouter.advance()
    (assignment,) = seen
    assert assignment["valid"] == "True"
    assert assignment["TaskSid"] == task.sid
    assert json.loads(assignment["TaskAttributes"]) == {"order": 7}
    assert ws.reservations(task)[0].reservation_status == "accepted"


def test_events_arrive_in_order_with_the_steps_that_cause_them(taskrouter: TaskRouter) -> None:
    app, seen = flask_app(taskrouter.auth_token)
    taskrouter.deliver_callbacks_to(app)
    ws = support(taskrouter, event_callback_url=f"{APP}/events")
    ws.create_task({}, timeout=600)
    taskrouter.advance(600)
    events = [form["EventType"] for form in seen if form["kind"] == "events"]
    assert events[-3:] == ["reservation.timeout", "worker.activity.update", "task.canceled"]
    assert events == taskrouter.event_types()[-len(events) :]
    assert all(form["valid"] == "True" for form in seen)


def test_the_app_may_call_back_while_it_answers(taskrouter: TaskRouter) -> None:
    """A handler that updates the reservation through the SDK (a blocking call into the
    Switchboard that is calling it) is served, not deadlocked."""

    def accept_through_the_api(form: dict[str, str]) -> dict[str, str]:
        ws.api.tasks(form["TaskSid"]).reservations(form["ReservationSid"]).update(
            reservation_status="accepted"
        )
        return {}

    app, _ = flask_app(taskrouter.auth_token, accept_through_the_api)
    taskrouter.deliver_callbacks_to(app)
    ws = support(taskrouter)
    task = ws.create_task({})
    taskrouter.advance()
    assert ws.api.tasks(task.sid).fetch().assignment_status == "assigned"


def test_an_asgi_app_is_a_target_too(taskrouter: TaskRouter) -> None:
    seen: list[str] = []

    async def assign(request: Request) -> JSONResponse:
        values = dict(parse_qsl((await request.body()).decode()))
        validator = RequestValidator(taskrouter.auth_token)
        assert validator.validate(str(request.url), values, request.headers["x-twilio-signature"])
        seen.append(values["TaskSid"])
        return JSONResponse({"instruction": "accept"})

    taskrouter.deliver_callbacks_to(Starlette(routes=[Route("/assign", assign, methods=["POST"])]))
    ws = support(taskrouter)
    task = ws.create_task({})
    taskrouter.advance()
    assert seen == [task.sid]
    assert ws.reservations(task)[0].reservation_status == "accepted"


def test_a_target_that_raises_fails_the_step_with_its_exception(taskrouter: TaskRouter) -> None:
    def broken(form: dict[str, str]) -> dict[str, str]:
        raise LookupError("no such ticket")

    app, _ = flask_app(taskrouter.auth_token, broken)
    taskrouter.deliver_callbacks_to(app)
    support(taskrouter).create_task({})
    with pytest.raises(CallbackTargetError, match="no such ticket") as caught:
        taskrouter.advance()
    assert isinstance(caught.value.__cause__, LookupError)
    taskrouter.advance()  # reported once; the failed callback is not sent again


def test_a_server_error_fails_the_step_unless_asked_not_to(taskrouter: TaskRouter) -> None:
    app, _ = flask_app(taskrouter.auth_token)
    app.testing = False  # Flask answers 500 for the exception
    app.view_functions["callback"] = lambda kind: 1 / 0
    taskrouter.deliver_callbacks_to(app)
    ws = support(taskrouter)
    ws.create_task({})
    with pytest.raises(CallbackTargetError, match="HTTP 500"):
        taskrouter.advance()
    quiet = TaskRouter()
    try:
        quiet.deliver_callbacks_to(app, raise_server_errors=False)
        support(quiet).create_task({})
        quiet.advance()  # recorded on the reservation's callback, not raised
    finally:
        quiet.close()


def test_a_url_no_target_covers_fails_like_an_unreachable_host(taskrouter: TaskRouter) -> None:
    app, seen = flask_app(taskrouter.auth_token)
    taskrouter.deliver_callbacks_to(app, base_url="https://elsewhere.example.com")
    ws = support(taskrouter)
    task = ws.create_task({})
    taskrouter.advance()
    assert seen == []
    reservation = ws.reservations(task)[0].sid
    state = taskrouter.request(
        "GET", f"/switchboard/v1/Workspaces/{ws.sid}/Reservations/{reservation}/AssignmentCallback"
    )
    assert state["state"] == "failed"
    assert "no application given to deliver_callbacks_to" in state["last_error"]


def test_a_target_that_never_answers_fails_the_step_at_its_timeout() -> None:
    release = threading.Event()

    def stuck(form: dict[str, str]) -> dict[str, str]:
        release.wait(30)
        return {}

    kit = TaskRouter(callback_timeout=0.2)
    try:
        app, _ = flask_app(kit.auth_token, stuck)
        kit.deliver_callbacks_to(app)
        support(kit).create_task({})
        with pytest.raises(CallbackTargetError, match="did not answer"):
            kit.advance()
    finally:
        release.set()
        kit.close()


def test_every_callback_due_is_delivered_in_order_before_the_step_returns(
    taskrouter: TaskRouter,
) -> None:
    """More callbacks at once than a receiver takes from the network (Switchboard puts the
    rest off for later there): a test still gets them all, in the order they were made."""
    app, seen = flask_app(taskrouter.auth_token, {"instruction": "accept"})
    taskrouter.deliver_callbacks_to(app)
    ws = support(taskrouter, workers={f"w{i:03}": {} for i in range(60)})
    tasks = [ws.create_task({"n": n}).sid for n in range(60)]
    taskrouter.advance()
    assert [form["TaskSid"] for form in seen] == tasks
    assert len(ws.api.tasks.list(assignment_status="assigned")) == 60
