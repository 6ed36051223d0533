"""Which target of a workflow holds a task: on arrival, after a timeout, after a skip.

`task_doc` is always `filter_document(attributes, now_ms)`; deadlines are absolute (ms).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import Target, WorkflowConfig


@dataclass(frozen=True)
class Step:
    """Where a task is in its workflow.

    `deadline_ms` is the task's creation time plus the sum of the timeouts of targets
    0..target_index of the filter (TaskRouter measures target timeouts against the task's age);
    None for a terminal target and for the default_filter.
    """

    filter_index: int | None  # None = default_filter
    target_index: int  # 0 for the default_filter
    target: Target
    deadline_ms: int | None


def first_step(config: WorkflowConfig, task_doc: Mapping[str, Any], created_ms: int) -> Step | None:
    """The first target of the first filter that matches (switch semantics), else the
    default_filter, else None (the engine decides what an unroutable task does)."""
    return _first_match(config, task_doc, 0, created_ms) or _default_step(config)


def next_step(
    config: WorkflowConfig,
    task_doc: Mapping[str, Any],
    current: Step,
    created_ms: int,
    *,
    skipped: bool,
) -> Step | None:
    """Where the task goes when `current` timed out (skipped=False) or its skip_if fired.

    The next target of the same filter; past the last one, the first LATER filter that matches
    now. Failing that, a skipping task falls into the default_filter (a task that skipped out of
    its filters counts as never having matched them), and a timed-out task gets None: the
    default_filter does not catch it, and the engine cancels it. Only this last move decides:
    a task that timed out of one filter and then skipped out of a later one does reach the
    default_filter. Nothing follows the default_filter. Indices from an older version of the
    configuration are tolerated (a step past the end moves on as if it were the last).
    """
    if current.filter_index is None:
        return None
    filters = config.filters
    index = current.filter_index
    if index < len(filters) and current.target_index + 1 < len(filters[index].targets):
        return _step(config, index, current.target_index + 1, created_ms)
    step = _first_match(config, task_doc, index + 1, created_ms)
    if step is None and skipped:
        return _default_step(config)
    return step


def settle(
    config: WorkflowConfig,
    task_doc: Mapping[str, Any],
    step: Step | None,
    created_ms: int,
    now_ms: int,
) -> Step | None:
    """Pass over targets whose cumulative deadline is at or before `now_ms`, as timeouts.

    Used when a task enters a target late: a re-evaluated older task, or a task that moved
    into a later filter whose first targets' deadlines its age already exceeds. Returns the
    first step still open at `now_ms` (or None: the task timed out of the workflow).
    """
    while step is not None and step.deadline_ms is not None and step.deadline_ms <= now_ms:
        step = next_step(config, task_doc, step, created_ms, skipped=False)
    return step


def _first_match(
    config: WorkflowConfig, task_doc: Mapping[str, Any], start: int, created_ms: int
) -> Step | None:
    for index in range(start, len(config.filters)):
        if config.filters[index].expression.matches(task_doc):
            return _step(config, index, 0, created_ms)
    return None


def _step(config: WorkflowConfig, filter_index: int, target_index: int, created_ms: int) -> Step:
    targets = config.filters[filter_index].targets
    target = targets[target_index]
    deadline = None
    if target.timeout is not None:
        # A terminal target earlier in the list (reached past only by skipping) adds nothing.
        seconds = sum(item.timeout or 0 for item in targets[: target_index + 1])
        deadline = created_ms + seconds * 1000
    return Step(filter_index, target_index, target, deadline)


def _default_step(config: WorkflowConfig) -> Step | None:
    if config.default_filter is None:
        return None
    return Step(None, 0, config.default_filter, None)
