"""Dispatch: placing tasks in workflow steps and offering them to workers as reservations.

Everything here runs inside one `Tx` (under the workspace lock, opened by the caller with
`EngineCore.writing`) and keeps the routing index in step with the rows it writes. Two entry
points drive it:
- `route_task(tx, sid)`: a task became pending (created, rejected, timed out, re-evaluated):
  offer it to the best available workers of its current step, or skip the step.
- `fill_worker(tx, sid)`: a worker may take work (activity now available, capacity freed,
  attributes changed): give it the best waiting task it is eligible for.

The `Dispatcher` is made of parts, built in dependency order, each given only the parts it
calls:
- `records` (records.py): tasks and reservations written, and the events about them;
- `worker_changes` (worker_changes.py): the activity and version changes the engine makes;
- `transfers` (transfer_ledger.py): a transfer's row and its `task.transfer-*` events;
- `offers` (offers.py): who is offered what: picking workers, reserving them, filling a worker;
- `closing` (closing.py): a task closed, or canceled with its pending offers;
- `steps` (steps.py, targets.py): a task's way through its workflow's steps, and a direct
  task's step of its own;
- `declines` (declines.py): what follows offers that all ended unaccepted, transfers included.
The reasons a task is canceled for are in reasons.py.
"""

from __future__ import annotations

from switchboard.engine.closing import Closing
from switchboard.engine.declines import Declines
from switchboard.engine.offers import Offers
from switchboard.engine.records import Records
from switchboard.engine.steps import Steps
from switchboard.engine.targets import target_of
from switchboard.engine.transfer_ledger import TransferLedger
from switchboard.engine.worker_changes import WorkerChanges
from switchboard.storage import Store


class Dispatcher:
    """The routing half of the engine, shared by the per-resource operations: it writes tasks,
    reservations and engine-driven activity changes, and decides who is offered what.

    It never opens a write of its own; every operation takes the caller's `Tx`."""

    def __init__(self, store: Store, closed_task_retention_ms: int | None = None) -> None:
        self.store = store
        self.transfers = transfers = TransferLedger(store)
        self.records = records = Records(store)
        self.worker_changes = worker_changes = WorkerChanges(store)
        self.offers = offers = Offers(store, records, worker_changes, transfers)
        self.closing = closing = Closing(
            records, worker_changes, offers, transfers, closed_task_retention_ms
        )
        self.steps = steps = Steps(records, offers, closing)
        self.declines = declines = Declines(records, steps, closing, transfers)
        # The operations the resources call, each its part's own: a caller names the
        # dispatcher alone, and a call costs what a method call does.
        self.save_task = records.save_task
        self.save_reservation = records.save_reservation
        self.close_reservation = records.close_reservation
        self.emit_task = records.emit_task
        self.emit_reservation = records.emit_reservation
        self.set_activity = worker_changes.set_activity
        self.count_on_worker = worker_changes.count_on_worker
        self.release = worker_changes.release
        self.can_take = offers.can_take
        self.fill_worker = offers.fill_worker
        self.closed = closing.closed
        self.cancel_task = closing.cancel_task
        self.target = target_of
        self.route_task = steps.route_task
        self.fill_queue = steps.fill_queue
        self.start_workflow = steps.start_workflow
        self.start_direct = steps.start_direct
        self.advance = steps.advance
        self.back_to_workflow = steps.back_to_workflow
        self.requeue = declines.requeue
