"""What the engine changes on a worker by itself, inside a write: its activity, moved for a
reservation, an assignment or a timeout and given back when an offer is withdrawn, and its
version, counted for the changes the worker SDK counts itself."""

from __future__ import annotations

from switchboard.engine.event_data import worker_data
from switchboard.engine.tx import Tx
from switchboard.events import EventType
from switchboard.models import Reservation, Worker, evolve
from switchboard.storage import Store


class WorkerChanges:
    """Engine-driven changes to workers, with the routing index kept in step."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def set_activity(self, tx: Tx, worker_sid: str, activity_sid: str | None) -> Worker | None:
        """Move a worker to an activity (engine-driven: reservation, assignment, timeout)."""
        entry = tx.index.workers.get(worker_sid)
        activity = tx.index.activities.get(activity_sid or "")
        if entry is None or activity is None or entry.worker.activity_sid == activity.sid:
            return None
        old = tx.index.current(entry.worker)
        worker = evolve(
            entry.worker,
            activity_sid=activity.sid,
            activity_name=activity.friendly_name,
            available=activity.available,
            date_updated=tx.now,
            date_status_changed=tx.now,
            version=entry.worker.version + 1,
        )
        self.store.update_worker(worker, tx.seq)
        tx.dirty = True
        tx.index.put_worker(worker)
        data = worker_data(worker, tx.index)
        data.update(
            worker_previous_activity_sid=old.activity_sid,
            worker_previous_activity_name=old.activity_name,
            worker_time_in_previous_activity=str(max(tx.now - old.date_status_changed, 0) // 1000),
            worker_time_in_previous_activity_ms=str(max(tx.now - old.date_status_changed, 0)),
        )
        tx.emit(
            EventType.WORKER_ACTIVITY_UPDATE,
            resource_type="worker",
            resource_sid=worker.sid,
            description=(
                f"Worker {worker.friendly_name} updated to {activity.friendly_name} Activity"
            ),
            data=data,
            worker_sid=worker.sid,
        )
        return worker

    def count_on_worker(self, tx: Tx, worker_sid: str) -> Worker | None:
        """One more version of the worker, for a change the worker SDK counts itself rather
        than reads from a worker payload: a reservation offered to the worker, a channel's
        capacity or availability changed (docs/worker-sdk.md, Versions)."""
        entry = tx.index.workers.get(worker_sid)
        if entry is None:
            return None
        worker = evolve(entry.worker, version=entry.worker.version + 1)
        self.store.update_worker(worker, tx.seq)
        tx.dirty = True
        tx.index.put_worker(worker)
        return worker

    def release(self, tx: Tx, reservation: Reservation) -> None:
        """A pending offer was withdrawn (rescinded or canceled): a single-tasking worker parked
        in the queue's reservation activity goes back to the activity it had before."""
        if tx.workspace.multi_task_enabled:
            return
        queue = tx.index.queues.get(reservation.task_queue_sid or "")
        worker = tx.index.workers.get(reservation.worker_sid)
        if queue is None or worker is None or not queue.queue.reservation_activity_sid:
            return
        if worker.worker.activity_sid == queue.queue.reservation_activity_sid:
            self.set_activity(tx, reservation.worker_sid, reservation.worker_previous_activity_sid)
