"""Cold transfers of the worker SDK (`Task.transfer`, `OutgoingTransfer.cancel`), through the
gateway as the SDK calls it, with the REST SDK watching the tasks, reservations and events.

The real SDK drives the same calls in test_realtime_sdk.py; these tests reach the outcomes it
cannot arrange (declines, timeouts, attempts, refusals) on the manual clock.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.rest import Client

from switchboard.api.context import Services
from switchboard.app import create_app
from tests.support import ACCOUNT_SID, AUTH_TOKEN, InProcessHttpClient, make_services, sdk_client
from tests.support.gateway import PATH, call, frames, make_desk, token

# Every field the SDK's TransferDescriptor demands, and the task its OutgoingTransfer is of.
TRANSFER_FIELDS = {
    "date_created", "date_updated", "initiating_reservation_sid", "initiating_worker_sid",
    "initiating_queue_sid", "initiating_workflow_sid", "sid", "transfer_mode", "transfer_to",
    "transfer_type", "transfer_status", "task_sid",
}  # fmt: skip


class Desk:
    """A desk (a queue for everyone, a workflow into it, alice and bob) with alice holding an
    accepted task, and gateway calls as each agent's desktop makes them."""

    def __init__(self, services: Services, client: Client, http: TestClient) -> None:
        made, secret = services.engine.accounts.create_api_key(ACCOUNT_SID, "desk")
        self.services, self.client, self.http = services, client, http
        self.sids = make_desk(client)
        self.ws = client.taskrouter.v1.workspaces(self.sids["ws"])
        self.activities = {a.friendly_name: a.sid for a in self.ws.activities.list()}
        self.jwt = {
            name: token((made.sid, secret), self.sids["ws"], self.sids[name])
            for name in ("alice", "bob")
        }
        self.set_activity("alice", "Available")
        self.task = self.ws.tasks.create(
            workflow_sid=self.sids["workflow"], attributes='{"customer": "Ada"}'
        ).sid
        (reservation,) = self.ws.tasks(self.task).reservations.list()
        self.reservation = reservation.sid
        self.ws.tasks(self.task).reservations(self.reservation).update(
            reservation_status="accepted"
        )

    def __getitem__(self, name: str) -> str:
        return self.sids[name]

    def set_activity(self, worker: str, activity: str) -> None:
        self.ws.workers(self.sids[worker]).update(activity_sid=self.activities[activity])

    def gateway(self, worker: str, path: str, method: str = "GET", **params: Any) -> Any:
        """`worker`'s desktop calls `Workspaces/{WS}/Workers/{its SID}/{path}`."""
        url = f"Workspaces/{self.sids['ws']}/Workers/{self.sids[worker]}/{path}".rstrip("/")
        return call(self.http, self.jwt[worker], url, method, **params)

    def transfer(self, to: str, **params: Any) -> Any:
        """Alice hands her task on (a cold transfer unless told otherwise)."""
        fields = {"TaskSid": self.task, "ReservationSid": self.reservation, "To": to}
        return self.gateway("alice", "Transfers", "POST", **{"Mode": "COLD", **fields, **params})

    def cancel(self, transfer_sid: str, **params: Any) -> Any:
        fields = {"TaskSid": self.task, "TransferStatus": "canceled", **params}
        return self.gateway("alice", f"Transfers/{transfer_sid}", "POST", **fields)

    def fetch(self) -> Any:
        return self.ws.tasks(self.task).fetch()

    def reservation_of(self, worker: str, status: str | None = None) -> Any:
        found = [
            r for r in self.ws.tasks(self.task).reservations.list()
            if r.worker_sid == self.sids[worker] and status in (None, r.reservation_status)
        ]  # fmt: skip
        return found[-1]

    def as_the_sdk_sees(self, worker: str, reservation_sid: str) -> dict[str, Any]:
        answer = self.gateway(worker, f"Reservations/{reservation_sid}")
        assert answer.status_code == 200, answer.json()
        payload: dict[str, Any] = answer.json()["payload"]
        return payload

    def transfer_events(self) -> list[dict[str, Any]]:
        """The task's transfer events, oldest first, with their data."""
        events = self.ws.events.list(task_sid=self.task, minutes=60 * 24)
        found = [e for e in events if e.event_type.startswith("task.transfer-")]
        return [{"type": e.event_type, **e.event_data} for e in reversed(found)]

    def advance(self, seconds: int) -> None:
        self.services.clock.advance_ms(seconds * 1000)  # type: ignore[attr-defined]
        self.services.engine.deadlines.tick()


@pytest.fixture
def desk(services: Services, client: Client, http: TestClient) -> Desk:
    return Desk(services, client, http)


def initiated(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 200, answer.json()
    transfer: dict[str, Any] = answer.json()["payload"]
    assert transfer["transfer_status"] == "initiated"
    return transfer


@pytest.mark.both_databases
def test_a_cold_transfer_to_a_worker_wraps_up_the_transferor_and_offers_the_task_to_that_worker(
    desk: Desk,
) -> None:
    desk.set_activity("bob", "Available")
    transfer = initiated(desk.transfer(desk["bob"]))
    assert set(transfer) >= TRANSFER_FIELDS
    assert transfer["sid"].startswith("TT") and transfer["task_sid"] == desk.task
    assert transfer["transfer_type"] == "WORKER" and transfer["transfer_mode"] == "COLD"
    assert transfer["initiating_worker_sid"] == desk["alice"]
    assert transfer["initiating_reservation_sid"] == desk.reservation

    alices = desk.reservation_of("alice")
    assert alices.sid == desk.reservation and alices.reservation_status == "wrapping"
    task = desk.fetch()
    assert task.assignment_status == "reserved" and task.routing_target == desk["bob"]
    bobs = desk.reservation_of("bob", "pending")
    seen_by_bob = desk.as_the_sdk_sees("bob", bobs.sid)
    assert seen_by_bob["task_transfer"]["sid"] == transfer["sid"]
    assert seen_by_bob["task"]["assignment_status"] == "reserved"
    assert "active_outgoing_task_transfer" not in seen_by_bob
    seen_by_alice = desk.as_the_sdk_sees("alice", desk.reservation)
    assert seen_by_alice["active_outgoing_task_transfer"]["sid"] == transfer["sid"]
    assert "task_transfer" not in seen_by_alice
    # The task is no longer alice's to wrap up.
    wrap = call(
        desk.http, desk.jwt["alice"], f"Workspaces/{desk['ws']}/Tasks/{desk.task}", "POST",
        AssignmentStatus="wrapping",
    )  # fmt: skip
    assert wrap.status_code == 400

    desk.ws.tasks(desk.task).reservations(bobs.sid).update(reservation_status="accepted")
    assert desk.fetch().assignment_status == "assigned"
    assert desk.as_the_sdk_sees("bob", bobs.sid)["task_transfer"]["transfer_status"] == "complete"
    # Alice ends her wrap-up: her reservation alone, not bob's task.
    desk.ws.workers(desk["alice"]).reservations(desk.reservation).update(
        reservation_status="completed"
    )
    assert desk.reservation_of("alice").reservation_status == "completed"
    assert desk.fetch().assignment_status == "assigned"
    desk.ws.tasks(desk.task).update(assignment_status="completed", reason="done")
    assert desk.reservation_of("bob").reservation_status == "completed"
    events = desk.transfer_events()
    assert [e["type"] for e in events] == ["task.transfer-initiated", "task.transfer-completed"]
    assert events[1]["transfer_sid"] == transfer["sid"]
    assert events[1]["transfer_status"] == "complete"


def test_the_transferor_keeps_its_wrap_up_when_the_new_worker_completes_the_task(
    desk: Desk,
) -> None:
    desk.set_activity("bob", "Available")
    initiated(desk.transfer(desk["bob"]))
    bobs = desk.reservation_of("bob", "pending")
    desk.ws.tasks(desk.task).reservations(bobs.sid).update(reservation_status="accepted")
    desk.ws.tasks(desk.task).update(assignment_status="completed", reason="done")
    assert desk.reservation_of("alice").reservation_status == "wrapping"
    desk.ws.workers(desk["alice"]).reservations(desk.reservation).update(
        reservation_status="completed"
    )
    assert desk.reservation_of("alice").reservation_status == "completed"


def test_a_worker_who_declines_a_transfer_fails_it_and_the_task_goes_back_to_its_workflow(
    desk: Desk,
) -> None:
    desk.set_activity("bob", "Available")
    transfer = initiated(desk.transfer(desk["bob"]))
    bobs = desk.reservation_of("bob", "pending")
    desk.ws.tasks(desk.task).reservations(bobs.sid).update(reservation_status="rejected")
    events = desk.transfer_events()
    assert [e["type"] for e in events] == ["task.transfer-initiated", "task.transfer-failed"]
    assert events[1]["transfer_failed_reason"] == (
        "Transfer failed because the reservation was rejected"
    )
    assert desk.as_the_sdk_sees("bob", bobs.sid)["task_transfer"]["transfer_status"] == "failed"
    # Its workflow routes it again: bob, back in Available, is offered it as any task.
    task = desk.fetch()
    assert task.routing_target is None and task.assignment_status == "reserved"
    again = desk.reservation_of("bob", "pending")
    assert again.sid != bobs.sid
    assert "task_transfer" not in desk.as_the_sdk_sees("bob", again.sid)
    # A transfer that is over cannot be canceled.
    late = desk.cancel(transfer["sid"])
    assert late.status_code == 400 and "only an initiated" in late.json()["message"]


def test_a_transfer_to_a_worker_who_lets_the_offer_lapse_fails(desk: Desk) -> None:
    desk.set_activity("bob", "Available")
    initiated(desk.transfer(desk["bob"]))
    desk.advance(121)  # the workflow's 120 s to answer an offer
    assert desk.reservation_of("bob").reservation_status == "timeout"
    events = desk.transfer_events()
    assert events[-1]["type"] == "task.transfer-failed"
    assert "timed out" in events[-1]["transfer_failed_reason"]
    task = desk.fetch()
    assert task.assignment_status == "pending" and task.routing_target is None


def test_a_worker_without_room_for_the_task_cannot_be_transferred_it(desk: Desk) -> None:
    # Bob is Available but holds a task: no room for another (single-tasking).
    desk.set_activity("bob", "Available")
    other = desk.ws.tasks.create(workflow_sid=desk["workflow"]).sid
    (offer,) = desk.ws.tasks(other).reservations.list()
    desk.ws.tasks(other).reservations(offer.sid).update(reservation_status="accepted")
    answer = desk.transfer(desk["bob"])
    assert answer.status_code == 400 and "no room" in answer.json()["message"]
    assert desk.fetch().assignment_status == "assigned"


def test_a_transfer_to_a_queue_keeps_the_task_there_when_its_attributes_change(
    desk: Desk,
) -> None:
    back = desk.ws.task_queues.create(friendly_name="Back", target_workers="1==1").sid
    initiated(desk.transfer(back))
    desk.ws.tasks(desk.task).update(attributes='{"customer": "Grace"}')
    assert desk.fetch().task_queue_sid == back


def test_a_transfer_to_a_queue_waits_there_and_each_declined_offer_is_an_attempt_that_failed(
    desk: Desk,
) -> None:
    back = desk.ws.task_queues.create(friendly_name="Back", target_workers="1==1").sid
    transfer = initiated(desk.transfer(back))
    assert transfer["transfer_type"] == "QUEUE" and transfer["transfer_to"] == back
    task = desk.fetch()
    # Nobody to offer it to: alice is wrapping up, bob is offline.
    assert task.assignment_status == "pending" and task.task_queue_sid == back
    desk.set_activity("bob", "Available")
    first = desk.reservation_of("bob", "pending")
    desk.ws.tasks(desk.task).reservations(first.sid).update(
        reservation_status="rejected", worker_activity_sid=desk.activities["Offline"]
    )
    events = desk.transfer_events()
    assert [e["type"] for e in events] == [
        "task.transfer-initiated", "task.transfer-attempt-failed",
    ]  # fmt: skip
    assert "no more pending reservations" in events[1]["transfer_failed_reason"]
    assert events[1]["transfer_status"] == "initiated"
    assert desk.fetch().task_queue_sid == back
    desk.set_activity("bob", "Available")
    second = desk.reservation_of("bob", "pending")
    assert desk.as_the_sdk_sees("bob", second.sid)["task_transfer"]["sid"] == transfer["sid"]
    desk.ws.tasks(desk.task).reservations(second.sid).update(reservation_status="accepted")
    assert desk.transfer_events()[-1]["type"] == "task.transfer-completed"


def test_a_transfer_fails_with_its_task_when_the_task_is_canceled(desk: Desk) -> None:
    back = desk.ws.task_queues.create(friendly_name="Back", target_workers="1==1").sid
    initiated(desk.transfer(back))
    desk.advance(24 * 3600 + 1)  # the task's TTL, which runs again from the transfer
    events = desk.transfer_events()
    assert events[-1]["type"] == "task.transfer-failed"
    assert events[-1]["transfer_failed_reason"] == "Task TTL Exceeded"
    assert desk.fetch().assignment_status == "canceled"


def test_canceling_a_transfer_withdraws_its_offer_and_returns_the_task_to_its_workflow(
    desk: Desk,
) -> None:
    desk.set_activity("bob", "Available")
    transfer = initiated(desk.transfer(desk["bob"]))
    offered = desk.reservation_of("bob", "pending")
    answer = desk.cancel(transfer["sid"])
    assert answer.status_code == 200, answer.json()
    assert answer.json()["payload"]["transfer_status"] == "canceled"
    assert desk.ws.tasks(desk.task).reservations(offered.sid).fetch().reservation_status == (
        "canceled"
    )
    assert desk.transfer_events()[-1]["type"] == "task.transfer-canceled"
    task = desk.fetch()
    assert task.routing_target is None
    assert desk.reservation_of("alice").reservation_status == "wrapping"


def test_transfers_that_cannot_be_made_are_refused_and_change_nothing(desk: Desk) -> None:
    def refused(answer: Any, status: int, words: str) -> None:
        assert answer.status_code == status, answer.json()
        assert words in answer.json()["message"]

    refused(desk.transfer(desk["bob"], Mode=None), 400, "telephone conference")
    refused(desk.transfer(desk["bob"], Mode="WARM"), 400, "telephone conference")
    refused(desk.transfer(desk["bob"], Mode="HOT"), 400, "COLD or WARM")
    refused(desk.transfer(desk["bob"]), 400, "not available")
    refused(desk.transfer(desk["alice"]), 400, "itself")
    refused(desk.transfer("WQ" + "0" * 32), 400, "neither a worker nor a task queue")
    refused(desk.transfer(desk["bob"], TaskSid="WT" + "0" * 32), 400, "is for Task")
    refused(desk.transfer(desk["bob"], ReservationSid="WR" + "0" * 32), 404, "not found")
    refused(desk.transfer(desk["bob"], TaskSid=None), 400, "TaskSid")
    refused(desk.transfer("somebody\x00"), 400, "must be a SID")
    refused(desk.transfer(desk["bob"], TaskSid=7), 400, "TaskSid")
    refused(desk.cancel("TT\x00"), 404, "no transfer")
    refused(desk.transfer(desk["bob"], Priority="high"), 400, "Priority")
    bobs_path = f"Workspaces/{desk['ws']}/Workers/{desk['alice']}/Transfers"
    refused(call(desk.http, desk.jwt["bob"], bobs_path, "POST"), 403, "its own worker")
    assert desk.fetch().assignment_status == "assigned"
    assert desk.reservation_of("alice").reservation_status == "accepted"
    assert desk.transfer_events() == []

    desk.set_activity("bob", "Available")
    refused(desk.transfer(desk["bob"], Attributes="[1]"), 400, "JSON object")
    refused(desk.transfer(desk["bob"], Attributes="[" * 2000 + "]" * 2000), 400, "JSON object")
    refused(desk.transfer(desk["bob"], Attributes={"note": "x" * 5000}), 400, "at most 4096")
    transfer = initiated(desk.transfer(desk["bob"], Priority=5, Attributes={"tier": 2}))
    task = desk.fetch()
    assert task.priority == 5 and json.loads(task.attributes) == {"tier": 2}
    refused(desk.transfer(desk["bob"]), 400, "accepted")  # alice's reservation wraps up now
    refused(desk.cancel(transfer["sid"], TransferStatus="complete"), 400, "must be canceled")
    refused(desk.cancel(transfer["sid"], TaskSid="WT" + "0" * 32), 400, "is of Task")
    other = desk.gateway("bob", f"Transfers/{transfer['sid']}", "POST", TaskSid=desk.task,
                         TransferStatus="canceled")  # fmt: skip
    refused(other, 404, "not found")
    assert desk.transfer_events()[-1]["type"] == "task.transfer-initiated"


def test_deleting_a_transferred_task_deletes_its_transfers(desk: Desk) -> None:
    desk.set_activity("bob", "Available")
    transfer = initiated(desk.transfer(desk["bob"]))
    desk.ws.tasks(desk.task).delete()
    assert desk.services.store.transfers.get(desk["ws"], transfer["sid"]) is None
    late = desk.cancel(transfer["sid"])
    assert late.status_code == 404


def test_the_transferring_worker_is_pushed_its_transfers_events(tmp_path: Any) -> None:
    services = make_services(tmp_path, heartbeat_seconds=1)
    with TestClient(create_app(services.settings, services=services)) as http:
        http.auth = (ACCOUNT_SID, AUTH_TOKEN)
        desk = Desk(services, sdk_client(InProcessHttpClient(http.app), "http://testserver"), http)
        desk.set_activity("bob", "Available")
        with http.websocket_connect(f"{PATH}?token={desk.jwt['alice']}") as socket:
            assert frames(socket, 1)[0]["event_type"] == "init"
            transfer = initiated(desk.transfer(desk["bob"]))
            bobs = desk.reservation_of("bob", "pending")
            desk.ws.tasks(desk.task).reservations(bobs.sid).update(reservation_status="accepted")
            pushed = frames(socket, 3)
    services.store.close()
    assert [f["event_type"] for f in pushed] == [
        "reservation.wrapup", "task.transfer-initiated", "task.transfer-completed",
    ]  # fmt: skip
    assert pushed[0]["payload"]["sid"] == desk.reservation
    for frame in pushed[1:]:
        assert set(frame["payload"]) >= TRANSFER_FIELDS
        assert frame["payload"]["sid"] == transfer["sid"]
    assert pushed[2]["payload"]["transfer_status"] == "complete"
