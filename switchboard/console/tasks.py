"""The tasks page: a workspace's tasks, newest first, with the list filters of the API
(AssignmentStatus, TaskQueueSid, WorkflowSid, EvaluateTaskAttributes)."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.engine.work import task_document
from switchboard.expressions import ExpressionError, compile_expression
from switchboard.models import Task
from switchboard.storage import Store

SHOWN = 100
# EvaluateTaskAttributes is evaluated here, over this many of the newest tasks that pass the
# other filters.
SCANNED = 2000
STATUSES = ("pending", "reserved", "assigned", "wrapping", "completed", "canceled")


@dataclass(frozen=True)
class TaskList:
    tasks: list[Task]
    more: bool  # more tasks match than are shown
    error: str | None = None


def list_tasks(
    store: Store, workspace_sid: str, *, status: str = "", queue: str = "", workflow: str = "",
    expression: str = "",
) -> TaskList:  # fmt: skip
    compiled = None
    if expression:
        try:
            compiled = compile_expression(expression)
        except ExpressionError as error:
            return TaskList([], False, f"The expression does not parse: {error.message}")
    found = store.tasks.find(
        workspace_sid,
        statuses=(status,) if status in STATUSES else (),
        task_queue_sid=queue or None,
        workflow_sid=workflow or None,
        order=(("date_created", True), ("sid", True)),
        limit=SCANNED if compiled else SHOWN + 1,
    )
    if compiled is not None:
        found = [t for t in found if compiled.matches(task_document(t.attributes))]
    return TaskList(found[:SHOWN], len(found) > SHOWN)
