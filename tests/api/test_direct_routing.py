"""Direct routing through the SDK: CreateTask with a worker `RoutingTarget` and the
`TaskQueueSid` it is taken in offers the task to that worker alone, skipping the workflow
(what the worker SDK's `createTask` sends). What happens when the worker cannot take it, or
declines, is Switchboard's decision (docs/decisions.md); bad parameters are 400s naming them.
Time moves only with the manual clock (`Env.advance`)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.rest import Client

from switchboard.api.context import Services
from switchboard.engine.reasons import ROUTING_TARGET_DECLINED, ROUTING_TARGET_SLA_MISSED
from tests.support import ACCOUNT_SID, Env, rest_error
from tests.support.gateway import call, make_desk, token


class Desk(Env):
    """A workspace whose workflow sends every task to Sales, and an Outbound queue any worker
    may take direct tasks in; Bob has been idle longest, so the workflow would pick him."""

    def __init__(self, client: Client, services: Services, workspace: Any) -> None:
        super().__init__(client, services, workspace)
        self.sales = self.queue("Sales")
        self.outbound = self.queue("Outbound")
        self.flow = self.to_queue(self.sales)
        self.bob = self.worker("Bob")
        self.advance(1)
        self.alice = self.worker("Alice")

    def direct(self, worker_sid: str | None = None, **kw: Any) -> Any:
        return self.ws.tasks.create(
            workflow_sid=self.flow,
            routing_target=worker_sid or self.alice,
            task_queue_sid=self.outbound,
            attributes='{"outbound_to": "+15550100"}',
            **kw,
        )

    def reservation(self, task_sid: str) -> Any:
        (only,) = self.reservations(task_sid)
        return only


@pytest.fixture
def desk(client: Client, services: Services, workspace: Any) -> Desk:
    return Desk(client, services, workspace)


def test_the_task_goes_to_its_worker_in_its_queue_and_is_done(desk: Desk) -> None:
    task = desk.direct()
    assert task.assignment_status == "reserved"
    assert (task.routing_target, task.ignore_capacity) == (desk.alice, True)
    assert (task.task_queue_sid, task.task_queue_friendly_name) == (desk.outbound, "Outbound")
    assert task.workflow_sid == desk.flow
    assert desk.reserved_workers(task.sid) == [desk.alice]  # not Bob, idle longer
    desk.accept(task.sid)
    desk.ws.tasks(task.sid).update(assignment_status="completed", reason="called")
    assert desk.fetch(task.sid).assignment_status == "completed"
    # The workflow is not evaluated: no workflow.entered or workflow.target-matched.
    assert desk.events(task.sid) == [
        "task.created", "task-queue.entered", "reservation.created", "reservation.accepted",
        "task.completed", "reservation.completed",
    ]  # fmt: skip
    assert desk.ws.tasks.list(routing_target=desk.alice)[0].sid == task.sid
    assert desk.ws.tasks.list(routing_target=desk.bob) == []


def test_an_ordinary_task_still_follows_the_workflow(desk: Desk) -> None:
    desk.direct()
    task = desk.task()
    assert (task.task_queue_sid, task.routing_target, task.ignore_capacity) == (
        desk.sales, None, None,
    )  # fmt: skip
    assert desk.reserved_workers(task.sid) == [desk.bob]


def test_by_default_the_worker_is_offered_it_even_offline_or_busy(desk: Desk) -> None:
    desk.set_available(desk.alice, False)
    offline = desk.direct()
    assert desk.reserved_workers(offline.sid) == [desk.alice]
    desk.accept(offline.sid)
    busy = desk.direct()  # Alice's one slot on the default channel is taken
    assert desk.reserved_workers(busy.sid) == [desk.alice]


def test_respecting_capacity_the_task_waits_for_its_worker_alone(desk: Desk) -> None:
    desk.set_available(desk.alice, False)
    task = desk.direct(ignore_capacity="false")
    assert (task.assignment_status, task.ignore_capacity) == ("pending", False)
    other = desk.ws.tasks.create(  # Bob, available, may take a task in Outbound
        workflow_sid=desk.to_queue(desk.outbound, "To outbound")
    )
    assert desk.reserved_workers(other.sid) == [desk.bob]
    desk.accept(other.sid)
    desk.ws.tasks(other.sid).update(assignment_status="completed", reason="done")
    assert desk.reservations(task.sid) == []  # Bob is free again, and still not offered it
    desk.advance(60)
    desk.set_available(desk.alice)
    assert desk.reserved_workers(task.sid) == [desk.alice]
    desk.accept(task.sid)
    assert desk.fetch(task.sid).assignment_status == "assigned"


def test_a_worker_unavailable_past_the_reservation_timeout_fails_the_task(
    desk: Desk, services: Services
) -> None:
    desk.ws.workflows(desk.flow).update(task_reservation_timeout=30)
    desk.set_available(desk.alice, False)
    task = desk.direct(ignore_capacity="no")
    desk.advance(29.9)
    assert desk.fetch(task.sid).assignment_status == "pending"
    desk.advance(0.1)
    failed = desk.fetch(task.sid)
    assert (failed.assignment_status, failed.reason) == ("canceled", ROUTING_TARGET_SLA_MISSED)
    assert desk.reservations(task.sid) == []
    assert desk.events(task.sid)[-2:] == ["task.canceled", "reservation.failed"]
    (event,) = desk.ws.events.list(event_type="reservation.failed")
    assert (event.resource_sid, event.event_data["worker_sid"]) == (task.sid, desk.alice)
    assert event.event_data["task_assignment_status"] == "canceled"
    assert event.event_data["task_canceled_reason"] == ROUTING_TARGET_SLA_MISSED
    assert [e.sid for e in desk.ws.events.list(worker_sid=desk.alice)].count(event.sid) == 1


def test_a_rejected_offer_cancels_the_task(desk: Desk) -> None:
    task = desk.direct()
    reservation = desk.reservation(task.sid)
    desk.ws.tasks(task.sid).reservations(reservation.sid).update(reservation_status="rejected")
    canceled = desk.fetch(task.sid)
    assert (canceled.assignment_status, canceled.reason) == ("canceled", ROUTING_TARGET_DECLINED)
    assert [r.reservation_status for r in desk.reservations(task.sid)] == ["rejected"]
    assert desk.events(task.sid)[-2:] == ["reservation.rejected", "task.canceled"]


def test_an_offer_left_to_time_out_cancels_the_task(desk: Desk) -> None:
    task = desk.direct()
    desk.advance(120)
    canceled = desk.fetch(task.sid)
    assert (canceled.assignment_status, canceled.reason) == ("canceled", ROUTING_TARGET_DECLINED)
    assert [r.reservation_status for r in desk.reservations(task.sid)] == ["timeout"]
    assert desk.events(task.sid)[-2:] == ["reservation.timeout", "task.canceled"]


def test_new_attributes_do_not_send_it_through_the_workflow(desk: Desk) -> None:
    desk.set_available(desk.alice, False)
    task = desk.direct(ignore_capacity="false")
    desk.ws.tasks(task.sid).update(attributes='{"outbound_to": "+15550199"}')
    updated = desk.fetch(task.sid)
    assert (updated.task_queue_sid, updated.assignment_status) == (desk.outbound, "pending")
    assert "workflow.entered" not in desk.events(task.sid)


# -- bad requests ------------------------------------------------------------------------------

WK0, WQ0, WW0 = "WK" + "0" * 32, "WQ" + "0" * 32, "WW" + "0" * 32


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"RoutingTarget": "WK123"}, "RoutingTarget must be a WK SID"),
        ({"RoutingTarget": "worker-7"}, "RoutingTarget must be a WK SID"),
        ({"RoutingTarget": WQ0}, f"RoutingTarget {WQ0} is not a Worker SID"),
        ({"RoutingTarget": WW0}, f"RoutingTarget {WW0} is not a Worker SID"),
        ({"RoutingTarget": WK0, "TaskQueueSid": "out"}, f"RoutingTarget {WK0} is not a worker"),
        ({"RoutingTarget": "me", "TaskQueueSid": None}, "Missing required parameter TaskQueueSid"),
        ({"RoutingTarget": "me", "TaskQueueSid": WQ0}, f"TaskQueueSid {WQ0} is not a task queue"),
        ({"RoutingTarget": "me", "TaskQueueSid": "WQ1"}, "TaskQueueSid must be a WQ SID"),
        ({"TaskQueueSid": "out"}, "TaskQueueSid only goes with a worker RoutingTarget"),
        ({"RoutingTarget": "me", "TaskQueueSid": "narrow"}, "is not in TaskQueueSid"),
    ],
)  # fmt: skip
def test_bad_direct_routing_is_a_400_naming_the_parameter(
    desk: Desk, http: TestClient, data: dict[str, str | None], fragment: str
) -> None:
    names = {
        "me": desk.alice,
        "out": desk.outbound,
        "narrow": desk.queue("Narrow", target_workers="skill == 'none'"),
    }
    # A RoutingTarget comes with the Outbound queue unless the case names one (None: left out).
    form = {"TaskQueueSid": desk.outbound} if "RoutingTarget" in data else {}
    form.update({k: names.get(v, v) for k, v in data.items() if v is not None})
    if data.get("TaskQueueSid", "") is None:
        del form["TaskQueueSid"]
    response = http.post(
        f"/v1/Workspaces/{desk.sid}/Tasks", data={"WorkflowSid": desk.flow, **form}
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 20001 and fragment in body["message"], body
    assert desk.ws.tasks.list() == []


def test_another_workspaces_worker_is_not_a_routing_target(desk: Desk, client: Client) -> None:
    elsewhere = client.taskrouter.v1.workspaces.create(friendly_name="Elsewhere")
    stranger = client.taskrouter.v1.workspaces(elsewhere.sid).workers.create(friendly_name="Eve")
    error = rest_error(lambda: desk.direct(stranger.sid))
    assert (error.status, error.code) == (400, 20001)
    assert f"RoutingTarget {stranger.sid} is not a worker of this workspace" in error.msg


# -- the worker SDK's createTask -----------------------------------------------------------------


def test_the_worker_sdks_create_task_reaches_its_own_worker(
    client: Client, http: TestClient, services: Services
) -> None:
    desk = make_desk(client)
    key = services.engine.accounts.create_api_key(ACCOUNT_SID, "desk")
    jwt = token((key[0].sid, key[1]), desk["ws"], desk["alice"])
    queue = client.taskrouter.v1.workspaces(desk["ws"]).task_queues.list()[0].sid
    # What Worker.createTask posts: its own SID as RoutingTarget, attributes as an object.
    answer = call(
        http, jwt, f"Workspaces/{desk['ws']}/Tasks", "POST", WorkflowSid=desk["workflow"],
        TaskQueueSid=queue, RoutingTarget=desk["alice"], Attributes={"outbound_to": "+15550100"},
    )  # fmt: skip
    assert answer.status_code in (200, 201), answer.text
    task_sid = answer.json()["payload"]["sid"]
    reservations = client.taskrouter.v1.workspaces(desk["ws"]).tasks(task_sid).reservations
    assert [r.worker_sid for r in reservations.list()] == [desk["alice"]]  # alice is Offline
