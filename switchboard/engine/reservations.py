"""Reservation operations: accept, reject, wrap up, complete, and telephony instructions.

Instructions (dequeue, call, conference, redirect, supervise) are validated and recorded on the
reservation and in its events, with the accept they imply; no call is placed.
"""

from __future__ import annotations

import json
from typing import Any

from switchboard.engine.core import EngineCore, version_matches
from switchboard.engine.dispatch import Dispatcher
from switchboard.engine.tasks import Tasks
from switchboard.engine.tx import Tx
from switchboard.engine.work import task_document
from switchboard.errors import InvalidParameter, PreconditionFailed, TwilioError, not_found
from switchboard.events import EventType
from switchboard.models import (
    CLIENT_RESERVATION_STATUSES,
    RESERVATION_TRANSITIONS,
    Reservation,
    ReservationStatus,
    Task,
    TaskStatus,
    TransferStatus,
    evolve,
)

INSTRUCTIONS = ("conference", "dequeue", "call", "redirect", "supervise")


class ReservationGone(TwilioError):
    """The reservation is no longer pending (rescinded, canceled, timed out or rejected)."""

    status = 410
    code = 20409


class ReservationConflict(TwilioError):
    status = 409
    code = 20409


# Required parameters per instruction, with TaskRouter's error code when one is missing.
_REQUIRED: dict[str, tuple[tuple[str, str, int], ...]] = {
    "dequeue": (("from", "DequeueFrom", 40132),),
    "call": (("from", "CallFrom", 40111), ("url", "CallUrl", 40112)),
    "redirect": (("call_sid", "RedirectCallSid", 40121), ("url", "RedirectUrl", 40120)),
    "conference": (),
    "supervise": (("supervisor", "Supervisor", 40148),),
}
# TaskRouter's "reservation is not pending" code per instruction.
_NOT_PENDING = {"dequeue": 40135, "call": 40114, "redirect": 40123, "conference": 40136}


def _implies_accept(instruction: str, params: dict[str, Any]) -> bool:
    if instruction in ("dequeue", "conference"):
        return True
    if instruction == "call":
        return bool(params.get("accept"))
    if instruction == "redirect":
        return bool(params.get("accept"))
    return False


class Reservations:
    """UpdateReservation (reached through its task or its worker), and a reservation's
    timeout."""

    def __init__(self, core: EngineCore, dispatcher: Dispatcher, tasks: Tasks) -> None:
        self.core = core
        self.store = core.store
        self.dispatcher = dispatcher
        self.tasks = tasks

    def _reservation(
        self, tx: Tx, sid: str, *, task_sid: str | None, worker_sid: str | None
    ) -> Reservation:
        reservation = tx.index.work.reservations.get(sid) or self.store.reservations.get(
            tx.workspace.sid, sid
        )
        parent = f"Tasks/{task_sid}" if task_sid else f"Workers/{worker_sid}"
        if (
            reservation is None
            or (task_sid is not None and reservation.task_sid != task_sid)
            or (worker_sid is not None and reservation.worker_sid != worker_sid)
        ):
            raise not_found(f"/Workspaces/{tx.workspace.sid}/{parent}/Reservations/{sid}")
        return reservation

    def update_reservation(
        self,
        workspace_sid: str,
        sid: str,
        *,
        task_sid: str | None = None,
        worker_sid: str | None = None,
        if_match: str | None = None,
        status: ReservationStatus | None = None,
        worker_activity_sid: str | None = None,
        instruction: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> Reservation:
        """Act on a reservation, reached through its task or its worker."""
        params = params or {}
        with self.core.writing(workspace_sid) as tx:
            reservation = self._reservation(tx, sid, task_sid=task_sid, worker_sid=worker_sid)
            if not version_matches(if_match, reservation.version):
                raise PreconditionFailed(
                    f"If-Match {if_match} does not match the reservation's version "
                    f"{reservation.version}"
                )
            if worker_activity_sid is not None and worker_activity_sid not in tx.index.activities:
                raise InvalidParameter(
                    f"WorkerActivitySid {worker_activity_sid} is not an activity of this workspace"
                )
            if instruction is not None:
                self._instruct(tx, reservation, instruction, params)
            elif status is not None:
                self._set_status(tx, reservation, status, worker_activity_sid)
        saved = tx.saved_reservations.get(sid)
        worker = None if saved is None else tx.index.workers.get(saved.worker_sid)
        if saved is not None and worker is not None:
            # As saved, named from the index: no read back (a round trip on PostgreSQL).
            return evolve(saved, worker_name=worker.worker.friendly_name)
        found = self.store.reservations.get(workspace_sid, sid)
        assert found is not None
        return found

    def _set_status(
        self, tx: Tx, reservation: Reservation, status: ReservationStatus, activity_sid: str | None
    ) -> None:
        """A client's ReservationStatus: one of the lifecycle's steps a client may take
        (RESERVATION_TRANSITIONS into CLIENT_RESERVATION_STATUSES)."""
        current = reservation.reservation_status
        if status == current:
            return
        if status not in CLIENT_RESERVATION_STATUSES:
            raise InvalidParameter(
                "ReservationStatus must be accepted, rejected, wrapping or completed,"
                f" not {status.value}"
            )
        if status not in RESERVATION_TRANSITIONS[current]:
            if status in (ReservationStatus.ACCEPTED, ReservationStatus.REJECTED):
                self._require_pending(reservation, status.value)
            raise ReservationConflict(
                f"Reservation {reservation.sid} is {current.value} and cannot become {status.value}"
            )
        if status == ReservationStatus.ACCEPTED:
            self._accept(tx, reservation, None)
        elif status == ReservationStatus.REJECTED:
            self._reject(tx, reservation, activity_sid)
        elif status == ReservationStatus.WRAPPING:
            # As for accept: the SDK's wrap keeps the task it holds.
            task = self.tasks.task(tx, reservation.task_sid)
            self.tasks.wrap_task(tx, task, new_version=False)
        else:
            task = self.tasks.task(tx, reservation.task_sid)
            if self.tasks.holds(tx, task, reservation):
                self.tasks.complete_task(tx, task, "Reservation completed")
            else:
                self._complete_alone(tx, reservation, task)

    def _complete_alone(self, tx: Tx, reservation: Reservation, task: Task) -> None:
        """A transferring worker ends its wrap-up: the task, which went on to another worker
        or queue, is not its to complete."""
        closed = self.dispatcher.close_reservation(tx, reservation, ReservationStatus.COMPLETED)
        self.dispatcher.emit_reservation(
            tx, EventType.RESERVATION_COMPLETED, closed, task, "completed"
        )
        self.dispatcher.fill_worker(tx, reservation.worker_sid)

    def _require_pending(
        self, reservation: Reservation, action: str, code: int | None = None
    ) -> None:
        current = reservation.reservation_status
        if current == ReservationStatus.PENDING:
            return
        message = (
            f"Reservation {reservation.sid} is {current.value}, not pending: it cannot be {action}"
        )
        if current in (
            ReservationStatus.ACCEPTED,
            ReservationStatus.WRAPPING,
            ReservationStatus.COMPLETED,
        ):
            raise ReservationConflict(message, code=code)
        raise ReservationGone(message, code=code)

    def _accept(self, tx: Tx, reservation: Reservation, instruction: str | None) -> None:
        """The first accept wins: the task is assigned, its other reservations rescinded."""
        task = self.tasks.task(tx, reservation.task_sid)
        accepted = self.dispatcher.close_reservation(
            tx, reservation, ReservationStatus.ACCEPTED, instruction=instruction
        )
        task = evolve(
            task,
            assignment_status=TaskStatus.ASSIGNED,
            ttl_deadline=None,
            step_deadline=None,
            date_updated=tx.now,
            # No new version: the worker SDK's accept keeps the task it holds (the answer's
            # task is not read), so `task.complete()` right after `accept()` would be
            # refused for a version the agent cannot know yet (docs/worker-sdk.md).
        )
        self.dispatcher.save_task(tx, task)
        self.dispatcher.emit_reservation(
            tx, EventType.RESERVATION_ACCEPTED, accepted, task, "accepted"
        )
        transfer = self.dispatcher.transfers.active(tx, task)
        if transfer is not None:
            self.dispatcher.transfers.end(tx, transfer, TransferStatus.COMPLETE, task)
        freed = []
        for other in self.tasks.open_reservations(tx, task.sid, ReservationStatus.PENDING):
            rescinded = self.dispatcher.close_reservation(tx, other, ReservationStatus.RESCINDED)
            self.dispatcher.emit_reservation(
                tx, EventType.RESERVATION_RESCINDED, rescinded, task, "rescinded"
            )
            self.dispatcher.release(tx, other)
            freed.append(other.worker_sid)
        if not tx.workspace.multi_task_enabled:
            queue = tx.index.queues.get(task.task_queue_sid or "")
            if queue is not None:
                self.dispatcher.set_activity(
                    tx, reservation.worker_sid, queue.queue.assignment_activity_sid
                )
        for worker_sid in freed:
            self.dispatcher.fill_worker(tx, worker_sid)

    def _reject(self, tx: Tx, reservation: Reservation, activity_sid: str | None) -> None:
        """The worker declines: it moves to `activity_sid`, else back to where it was before
        the offer; the task waits again and is offered on."""
        task = self.tasks.task(tx, reservation.task_sid)
        closed = self.dispatcher.close_reservation(tx, reservation, ReservationStatus.REJECTED)
        self.dispatcher.emit_reservation(
            tx, EventType.RESERVATION_REJECTED, closed, task, "rejected"
        )
        self.dispatcher.set_activity(
            tx, reservation.worker_sid, activity_sid or reservation.worker_previous_activity_sid
        )
        self.dispatcher.requeue(tx, task.sid)
        self.dispatcher.fill_worker(tx, reservation.worker_sid)

    def time_out_reservation(self, tx: Tx, sid: str) -> bool:
        """A pending reservation's timeout passed: the worker moves to the workspace's timeout
        activity, the task waits again and is offered on. False when there was nothing to
        time out (the deadline is then still to be cleared)."""
        reservation = tx.index.work.reservations.get(sid)
        if reservation is None or reservation.reservation_status != ReservationStatus.PENDING:
            return False
        task = self.tasks.task(tx, reservation.task_sid)
        closed = self.dispatcher.close_reservation(tx, reservation, ReservationStatus.TIMEOUT)
        self.dispatcher.emit_reservation(
            tx, EventType.RESERVATION_TIMEOUT, closed, task, "timed out"
        )
        self.dispatcher.set_activity(tx, reservation.worker_sid, tx.workspace.timeout_activity_sid)
        self.dispatcher.requeue(tx, task.sid, "timed out")
        self.dispatcher.fill_worker(tx, reservation.worker_sid)
        return True

    def _instruct(
        self, tx: Tx, reservation: Reservation, instruction: str, params: dict[str, Any]
    ) -> None:
        if instruction not in INSTRUCTIONS:
            raise InvalidParameter(
                f"Instruction must be one of {', '.join(INSTRUCTIONS)}, not {instruction!r}",
                code=55555,
            )
        for key, name, code in _REQUIRED[instruction]:
            if not params.get(key):
                raise InvalidParameter(f"The {instruction} instruction needs {name}", code=code)
        task = self.tasks.task(tx, reservation.task_sid)
        if instruction == "supervise":
            if reservation.reservation_status != ReservationStatus.ACCEPTED:
                raise ReservationConflict(
                    f"Reservation {reservation.sid} must be accepted to supervise", code=40146
                )
        else:
            self._require_pending(
                reservation, f"given a {instruction} instruction", _NOT_PENDING.get(instruction)
            )
        self._check_call_task(instruction, task)
        text = _instruction_text(instruction, params)
        if _implies_accept(instruction, params):
            self._accept(tx, reservation, text)
            return
        recorded = evolve(
            reservation, instruction=text, date_updated=tx.now, version=reservation.version + 1
        )
        # Instructions that do not accept (call or redirect without accept, supervise) are
        # recorded on the reservation; the accept a client sends later carries them on.
        self.dispatcher.save_reservation(tx, recorded)

    def _check_call_task(self, instruction: str, task: Task) -> None:
        if instruction not in ("dequeue", "conference"):
            return
        if not task_document(task.attributes).get("call_sid"):
            code = 40140 if instruction == "dequeue" else 40141
            raise InvalidParameter(
                f"The {instruction} instruction needs a voice task: attribute call_sid is missing",
                code=code,
            )


def _instruction_text(name: str, params: dict[str, Any]) -> str:
    """The instruction as recorded on the reservation and shown in its events."""
    return json.dumps({"instruction": name, **params}, separators=(",", ":"))
