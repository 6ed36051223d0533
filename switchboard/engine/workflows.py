"""Workflow operations: the configuration is validated and compiled when saved."""

from __future__ import annotations

from dataclasses import replace

from switchboard.engine.core import EngineCore, check_friendly_name
from switchboard.engine.dispatch import Dispatcher
from switchboard.engine.tx import Tx
from switchboard.engine.workspaces import check_callback_url
from switchboard.errors import InvalidParameter, not_found
from switchboard.events import EventType
from switchboard.models import (
    DEFAULT_RESERVATION_TIMEOUT,
    MAX_RESERVATION_TIMEOUT,
    Prefix,
    TaskStatus,
    Workflow,
    new_sid,
)
from switchboard.routing import ConfigurationError, WorkflowConfig, parse_workflow_configuration

MAX_WORKFLOWS = 1000


class Workflows:
    """CreateWorkflow, UpdateWorkflow (with re-evaluation) and DeleteWorkflow."""

    def __init__(self, core: EngineCore, dispatcher: Dispatcher) -> None:
        self.core = core
        self.store = core.store
        self.dispatcher = dispatcher

    def _configuration(self, tx: Tx, text: str) -> WorkflowConfig:
        """Parse the document and check every queue it names exists in the workspace."""
        try:
            config = parse_workflow_configuration(text)
        except ConfigurationError as error:
            raise InvalidParameter(f"Configuration is not valid: {error}") from None
        missing = sorted(q for q in config.queue_sids if q not in tx.index.queues)
        if missing:
            raise InvalidParameter(
                f"Configuration names task queues that are not in workspace "
                f"{tx.workspace.sid}: {', '.join(missing)}"
            )
        return config

    def _workflow(self, tx: Tx, sid: str) -> Workflow:
        found = tx.index.work.workflows.get(sid)
        if found is None:
            raise not_found(f"/Workspaces/{tx.workspace.sid}/Workflows/{sid}")
        return found.workflow

    def _emit_workflow(self, tx: Tx, event: str, workflow: Workflow, verb: str) -> None:
        tx.emit(
            event,
            resource_type="workflow",
            resource_sid=workflow.sid,
            description=f"Workflow {workflow.friendly_name} {verb}",
            data={"workflow_sid": workflow.sid, "workflow_name": workflow.friendly_name},
            workflow_sid=workflow.sid,
        )

    def create_workflow(
        self,
        workspace_sid: str,
        *,
        friendly_name: str,
        configuration: str,
        assignment_callback_url: str | None = None,
        fallback_assignment_callback_url: str | None = None,
        task_reservation_timeout: int | None = None,
    ) -> Workflow:
        check_friendly_name(friendly_name)
        timeout = _reservation_timeout(task_reservation_timeout)
        with self.core.writing(workspace_sid) as tx:
            self._configuration(tx, configuration)
            if len(tx.index.work.workflows) >= MAX_WORKFLOWS:
                raise InvalidParameter(f"A workspace has at most {MAX_WORKFLOWS} workflows")
            workflow = Workflow(
                new_sid(Prefix.WORKFLOW),
                workspace_sid,
                tx.workspace.account_sid,
                friendly_name,
                configuration,
                check_callback_url(assignment_callback_url, "AssignmentCallbackUrl"),
                check_callback_url(
                    fallback_assignment_callback_url, "FallbackAssignmentCallbackUrl"
                ),
                timeout,
                tx.now,
                tx.now,
            )
            self.store.workflows.insert(workflow, tx.seq)
            tx.dirty = True
            tx.index.work.put_workflow(workflow)
            self._emit_workflow(tx, EventType.WORKFLOW_CREATED, workflow, "created")
        return workflow

    def update_workflow(
        self,
        workspace_sid: str,
        sid: str,
        *,
        friendly_name: str | None = None,
        configuration: str | None = None,
        assignment_callback_url: str | None = None,
        fallback_assignment_callback_url: str | None = None,
        task_reservation_timeout: int | None = None,
        re_evaluate_tasks: bool = False,
    ) -> Workflow:
        """Change the given fields; an empty callback URL clears it. With re_evaluate_tasks,
        the workflow's pending tasks run through the (new) configuration again."""
        with self.core.writing(workspace_sid) as tx:
            workflow = self._workflow(tx, sid)
            changes: dict[str, object] = {"date_updated": tx.now}
            if friendly_name is not None:
                changes["friendly_name"] = check_friendly_name(friendly_name)
            if configuration is not None:
                self._configuration(tx, configuration)
                changes["configuration"] = configuration
            if assignment_callback_url is not None:
                changes["assignment_callback_url"] = check_callback_url(
                    assignment_callback_url, "AssignmentCallbackUrl"
                )
            if fallback_assignment_callback_url is not None:
                changes["fallback_assignment_callback_url"] = check_callback_url(
                    fallback_assignment_callback_url, "FallbackAssignmentCallbackUrl"
                )
            if task_reservation_timeout is not None:
                changes["task_reservation_timeout"] = _reservation_timeout(task_reservation_timeout)
            workflow = replace(workflow, **changes)  # type: ignore[arg-type]
            self.store.workflows.update(workflow, tx.seq)
            tx.dirty = True
            tx.index.work.put_workflow(workflow)
            self._emit_workflow(tx, EventType.WORKFLOW_UPDATED, workflow, "updated")
            if re_evaluate_tasks:
                self._re_evaluate(tx, sid)
        return workflow

    def _re_evaluate(self, tx: Tx, workflow_sid: str) -> None:
        pending = [
            e.task
            for e in tx.index.work.tasks.values()
            if e.task.workflow_sid == workflow_sid
            and e.task.assignment_status == TaskStatus.PENDING
        ]
        for task in sorted(pending, key=lambda t: (t.date_created, t.sid)):
            self.dispatcher.start_workflow(tx, task)

    def delete_workflow(self, workspace_sid: str, sid: str) -> None:
        """Refused while open tasks (pending, reserved, assigned, wrapping) use the workflow."""
        with self.core.writing(workspace_sid) as tx:
            workflow = self._workflow(tx, sid)
            in_use = sum(1 for e in tx.index.work.tasks.values() if e.task.workflow_sid == sid)
            if in_use:
                raise InvalidParameter(
                    f"Workflow {sid} cannot be deleted while {in_use} open tasks use it"
                )
            self.store.workflows.delete(workspace_sid, sid)
            self.store.add_tombstone(workspace_sid, tx.seq, "workflow", sid)
            tx.dirty = True
            tx.index.work.forget_workflow(sid)
            self._emit_workflow(tx, EventType.WORKFLOW_DELETED, workflow, "deleted")


def _reservation_timeout(value: int | None) -> int:
    if value is None:
        return DEFAULT_RESERVATION_TIMEOUT
    if not 1 <= value <= MAX_RESERVATION_TIMEOUT:
        raise InvalidParameter(
            f"TaskReservationTimeout must be from 1 to {MAX_RESERVATION_TIMEOUT} seconds,"
            f" not {value}"
        )
    return value
