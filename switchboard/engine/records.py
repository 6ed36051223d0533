"""Tasks and reservations written inside the engine's writes, with the routing index kept in
step, and the events about them: what the dispatcher's parts and the resources write with."""

from __future__ import annotations

from typing import Any

from switchboard.engine.event_data import reservation_data, task_data, worker_data
from switchboard.engine.tx import Tx
from switchboard.models import Reservation, ReservationStatus, Task, evolve
from switchboard.storage import Store


class Records:
    """Writes a task or a reservation through the Store and into the routing index at once, and
    files the events about them. Every method takes the caller's `Tx`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def save_task(self, tx: Tx, task: Task, *, new: bool = False) -> Task:
        tx.note_deadline(task.step_deadline)
        tx.note_deadline(task.ttl_deadline)
        if new:
            self.store.tasks.insert(task, tx.seq)
        else:
            old = tx.index.work.tasks.get(task.sid)
            self.store.tasks.update(task, tx.seq, old.task if old is not None else None)
        tx.dirty = True
        tx.index.work.put_task(task)
        tx.saved_tasks[task.sid] = task
        return task

    def save_reservation(self, tx: Tx, reservation: Reservation, *, new: bool = False) -> None:
        tx.note_deadline(reservation.timeout_deadline)
        if new:
            self.store.reservations.insert(reservation, tx.seq)
        else:
            self.store.reservations.update(reservation, tx.seq)
        tx.dirty = True
        tx.index.put_reservation(reservation)
        tx.saved_reservations[reservation.sid] = reservation

    def close_reservation(
        self, tx: Tx, reservation: Reservation, status: ReservationStatus,
        *, instruction: str | None = None,
    ) -> Reservation:  # fmt: skip
        closed = evolve(
            reservation,
            reservation_status=status,
            timeout_deadline=None,
            date_updated=tx.now,
            version=reservation.version + 1,
            instruction=instruction if instruction is not None else reservation.instruction,
        )
        self.save_reservation(tx, closed)
        return closed

    def emit_task(
        self,
        tx: Tx,
        event: str,
        task: Task,
        description: str,
        *,
        extra: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """An event about a task, filed under its queue, workflow and channel."""
        body = task_data(task, tx.index, tx.now) if data is None else data
        tx.emit_about_task(event, task, description, {**body, **extra} if extra else body)

    def emit_reservation(
        self, tx: Tx, event: str, reservation: Reservation, task: Task, verb: str
    ) -> None:
        worker = tx.index.workers.get(reservation.worker_sid)
        data = task_data(task, tx.index, tx.now)
        data.update(reservation_data(reservation))
        if worker is not None:
            data.update(worker_data(worker.worker, tx.index))
        tx.emit(
            event,
            resource_type="reservation",
            resource_sid=reservation.sid,
            description=f"Reservation {reservation.sid} {verb}",
            data=data,
            task_sid=task.sid,
            worker_sid=reservation.worker_sid,
            reservation_sid=reservation.sid,
            task_queue_sid=reservation.task_queue_sid,
            workflow_sid=task.workflow_sid,
            task_channel_sid=task.task_channel_sid,
        )
