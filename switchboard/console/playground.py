"""The expression playground: evaluate an expression against a worker, a task, or both (as a
workflow target sees them), and say why it does not match or where it does not parse."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from switchboard.engine import Engine
from switchboard.engine.work import task_document
from switchboard.expressions import Explanation, ExpressionError, compile_expression
from switchboard.routing.documents import target_document
from switchboard.storage import Store

# What an expression is evaluated against: a queue's target_workers reads a worker, a
# workflow filter a task, a target's expression both (`worker.…`, `task.…`).
SUBJECTS = ("worker", "task", "target")


@dataclass(frozen=True)
class Evaluation:
    """Either an explanation, or an error (with the offset of a syntax error, if any)."""

    explanation: Explanation | None = None
    error: str | None = None
    position: int | None = None
    document: str | None = None


def evaluate(
    store: Store, engine: Engine, workspace_sid: str, expression: str, subject: str,
    worker_sid: str, task_sid: str,
) -> Evaluation:  # fmt: skip
    """Evaluate `expression` against the chosen worker and/or task of the workspace."""
    try:
        compiled = compile_expression(expression)
    except ExpressionError as error:
        return Evaluation(error=error.message, position=error.position)
    index = engine.index(workspace_sid)
    worker_doc: dict[str, Any] | None = None
    task_doc: dict[str, Any] | None = None
    if subject in ("worker", "target"):
        entry = index.workers.get(worker_sid)
        if entry is None:
            return Evaluation(error="Choose a worker of this workspace.")
        worker_doc = entry.doc
    if subject in ("task", "target"):
        task = store.tasks.get(workspace_sid, task_sid) if task_sid else None
        if task is None:
            return Evaluation(error="Give the SID of a task of this workspace.")
        task_doc = task_document(task.attributes)
    doc: dict[str, Any] | None = worker_doc if subject == "worker" else task_doc
    if worker_doc is not None and task_doc is not None:
        doc = target_document(task_doc, worker_doc, engine.now())
    assert doc is not None
    shown = json.dumps(doc, indent=2, sort_keys=True, default=str)
    return Evaluation(explanation=compiled.explain(doc), document=shown)
