"""A task's way through routing, inside a write: into the first step of its workflow that
matches, offered to workers there (`route_task`), on to the next step when one times out or
says to skip, and out of the workflow, canceled, when none is left. A direct task
(engine/targets.py) is offered to its one worker in a step of its own from the start, and
canceled when its time to be offered runs out."""

from __future__ import annotations

from typing import Any

from switchboard.engine.closing import Closing
from switchboard.engine.event_data import task_data, worker_data
from switchboard.engine.offers import Offers
from switchboard.engine.reasons import ROUTING_TARGET_SLA_MISSED, WORKFLOW_TIMEOUT
from switchboard.engine.records import Records
from switchboard.engine.targets import step_of, target_of
from switchboard.engine.tx import Tx
from switchboard.events import EventType
from switchboard.models import Task, TaskStatus, evolve
from switchboard.routing import Step, filter_document, first_step, next_step, skip_document


class Steps:
    """Places tasks in steps and offers them there (through `offers`); a task with no step
    left, or a direct task past its time, is canceled (`closing`)."""

    def __init__(self, records: Records, offers: Offers, closing: Closing) -> None:
        self.records = records
        self.offers = offers
        self.closing = closing

    def start_workflow(self, tx: Tx, task: Task) -> None:
        """Run a pending task through its workflow from the first filter (a direct task, which
        its workflow never routes, is offered to its worker again, and a task being
        transferred to a queue stays there)."""
        if task.routing_target is not None or (
            task.transfer_sid is not None
            and task.filter_index is None
            and task.task_queue_sid is not None
        ):
            self.route_task(tx, task.sid)
            return
        self._run_workflow(tx, task)

    def _run_workflow(self, tx: Tx, task: Task) -> None:
        flow = tx.index.work.workflows.get(task.workflow_sid or "")
        if flow is None:
            return
        entry = tx.index.work.tasks[task.sid]
        doc = filter_document(entry.doc, tx.now)
        step = first_step(flow.config, doc, task.date_created)
        if step is None:
            # No filter matched and there is no default_filter: the task waits, in no queue,
            # until its TTL or an attribute update (docs/decisions.md). A re-routed task leaves
            # the step it was in, so its old queue's workers can no longer take it.
            if task.task_queue_sid is not None or task.filter_index is not None:
                self.records.save_task(
                    tx,
                    evolve(
                        entry.task,
                        filter_index=None,
                        target_index=None,
                        task_queue_sid=None,
                        task_queue_entered_date=None,
                        step_deadline=None,
                        date_updated=tx.now,
                        version=entry.task.version + 1,
                    ),
                )
            return
        self.records.emit_task(
            tx,
            EventType.WORKFLOW_ENTERED,
            task,
            f"Task {task.sid} entered Workflow {flow.workflow.friendly_name}",
        )
        self._enter_step(tx, task.sid, step)

    def _enter_step(
        self, tx: Tx, task_sid: str, step: Step | None, *, skipped: bool = False
    ) -> None:
        """Put the task in `step` (passing over steps whose deadline is already past), try to
        reserve workers, and skip on when skip_if says so. No step left: the task leaves the
        workflow and is canceled."""
        while True:
            entry = tx.index.work.tasks[task_sid]
            task = entry.task
            flow = tx.index.work.workflows[task.workflow_sid or ""]
            if step is None:
                self._fall_out(tx, task, skipped)
                return
            if step.deadline_ms is not None and step.deadline_ms <= tx.now:
                skipped = False  # its time is already up: on to the next, not skipped
            else:
                task = self._place(tx, task, step)
                if self.route_task(tx, task_sid, entering=True):
                    return
                if step.target.skip_if is None or not self._should_skip(tx, step):
                    return
                skipped = True
            step = next_step(
                flow.config,
                filter_document(entry.doc, tx.now),
                step,
                task.date_created,
                skipped=skipped,
            )

    def _should_skip(self, tx: Tx, step: Step) -> bool:
        assert step.target.skip_if is not None
        members = (
            tx.index.members(step.target.queue_sid)
            if step.target.queue_sid in tx.index.queues
            else set()
        )
        by_activity: dict[str, int] = {}
        available = 0
        for sid in members:
            worker = tx.index.workers[sid].worker
            activity = tx.index.activities.get(worker.activity_sid)
            by_activity[worker.activity_sid] = by_activity.get(worker.activity_sid, 0) + 1
            if activity is not None and activity.available:
                available += 1
        doc = skip_document(available, len(members) - available, by_activity)
        return step.target.skip_if.matches(doc)

    def _place(self, tx: Tx, task: Task, step: Step) -> Task:
        """Record the task's new step: its queue, priority override and deadline."""
        queue_sid = step.target.queue_sid
        moved = task.task_queue_sid is not None and task.task_queue_sid != queue_sid
        previous_queue = task.task_queue_sid
        task = evolve(
            task,
            filter_index=-1 if step.filter_index is None else step.filter_index,
            target_index=step.target_index,
            task_queue_sid=queue_sid,
            task_queue_entered_date=tx.now
            if task.task_queue_sid != queue_sid
            else task.task_queue_entered_date,
            step_deadline=step.deadline_ms,
            priority=step.target.priority if step.target.priority is not None else task.priority,
            date_updated=tx.now,
            version=task.version + 1,
        )
        self.records.save_task(tx, task)
        data = task_data(task, tx.index, tx.now)
        self.records.emit_task(
            tx,
            EventType.WORKFLOW_TARGET_MATCHED,
            task,
            f"Task {task.sid} matched a workflow target",
            data=data,
            extra=self._step_data(tx, task, step),
        )
        if moved:
            self.records.emit_task(
                tx,
                EventType.TASK_QUEUE_MOVED,
                task,
                f"Task {task.sid} moved from TaskQueue {previous_queue} to {queue_sid}",
                data=data,
                extra={"task_queue_previous_sid": previous_queue},
            )
        if previous_queue != queue_sid:
            name = data["task_queue_name"]
            self.records.emit_task(
                tx,
                EventType.TASK_QUEUE_ENTERED,
                task,
                f"Task {task.sid} entered TaskQueue {name}",
                data=data,
            )
        return task

    def _step_data(self, tx: Tx, task: Task, step: Step) -> dict[str, Any]:
        config = tx.index.work.workflows[task.workflow_sid or ""].config
        filter_ = config.filters[step.filter_index] if step.filter_index is not None else None
        return {
            "workflow_filter_name": filter_.name if filter_ else "default_filter",
            "workflow_filter_expression": filter_.expression.text if filter_ else None,
            "workflow_filter_target_name": step.target.queue_sid,
            "workflow_filter_target_expression": (
                step.target.expression.text if step.target.expression else None
            ),
        }

    def _fall_out(self, tx: Tx, task: Task, skipped: bool) -> None:
        """The task has no step left: it leaves the workflow and is canceled."""
        event = EventType.WORKFLOW_SKIPPED if skipped else EventType.WORKFLOW_TIMEOUT
        how = "skipped" if skipped else "timed out"
        self.records.emit_task(tx, event, task, f"Task {task.sid} left its workflow ({how})")
        self.closing.cancel_task(tx, task, WORKFLOW_TIMEOUT)

    def start_direct(self, tx: Tx, task: Task) -> None:
        """A new task routed to a worker (RoutingTarget): it is in its queue from the start
        and is offered to that worker alone, at once when it may take it."""
        queue = tx.index.queues[task.task_queue_sid or ""].queue
        self.records.emit_task(
            tx,
            EventType.TASK_QUEUE_ENTERED,
            task,
            f"Task {task.sid} entered TaskQueue {queue.friendly_name}",
        )
        self.route_task(tx, task.sid, entering=True)

    def _miss_sla(self, tx: Tx, task: Task) -> None:
        """A direct task's time to be offered to its worker ran out: the task is canceled and
        the worker told, as TaskRouter does, by a reservation.failed carrying the task."""
        task = self.closing.cancel_task(tx, task, ROUTING_TARGET_SLA_MISSED)
        data = task_data(task, tx.index, tx.now)
        worker = tx.index.workers.get(task.routing_target or "")
        if worker is not None:
            data.update(worker_data(worker.worker, tx.index))
        tx.emit_about_task(
            EventType.RESERVATION_FAILED, task,
            f"Reservation for Task {task.sid} failed: {ROUTING_TARGET_SLA_MISSED}", data,
            worker_sid=task.routing_target,
        )  # fmt: skip

    def advance(self, tx: Tx, task: Task) -> None:
        """The task's step timed out while it waited: on to the next step."""
        if task.routing_target is not None:
            self._miss_sla(tx, task)
            return
        flow = tx.index.work.workflows.get(task.workflow_sid or "")
        step = step_of(tx, task)
        if flow is None or step is None:
            return
        self.records.emit_task(
            tx,
            EventType.TASK_QUEUE_TIMEOUT,
            task,
            f"Task {task.sid} timed out of TaskQueue {task.task_queue_sid}",
        )
        doc = filter_document(tx.index.work.tasks[task.sid].doc, tx.now)
        self._enter_step(
            tx, task.sid, next_step(flow.config, doc, step, task.date_created, skipped=False)
        )

    def route_task(self, tx: Tx, task_sid: str, *, entering: bool = False) -> bool:
        """Offer a pending task to the best eligible workers of its step; True if reserved."""
        entry = tx.index.work.tasks.get(task_sid)
        if entry is None or entry.task.assignment_status != TaskStatus.PENDING:
            return False
        task = entry.task
        if not entering and task.step_deadline is not None and task.step_deadline <= tx.now:
            self.advance(tx, task)
            return entry.task.assignment_status != TaskStatus.PENDING
        target = target_of(tx, task)
        queue = tx.index.queues.get(task.task_queue_sid or "")
        if target is None or queue is None:
            return False
        workers = self.offers.pick_workers(tx, entry, target, queue.queue.max_reserved_workers)
        if not workers:
            return False
        self.offers.reserve(tx, entry, workers)
        return True

    def fill_queue(self, tx: Tx, queue_sid: str) -> None:
        """Offer a queue's waiting tasks again (its members or settings changed)."""
        for _, task_sid in list(tx.index.work.waiting.get(queue_sid, [])):
            self.route_task(tx, task_sid)

    def back_to_workflow(self, tx: Tx, task: Task) -> None:
        """A pending task leaves the transfer's step and runs through its workflow again."""
        current = tx.index.work.tasks[task.sid].task
        task = evolve(
            current,
            routing_target=None,
            ignore_capacity=None,
            filter_index=None,
            target_index=None,
            step_deadline=None,
            date_updated=tx.now,
            version=current.version + 1,
        )
        self.records.save_task(tx, task)
        self._run_workflow(tx, task)
