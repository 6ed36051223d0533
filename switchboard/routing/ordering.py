"""Sort keys: which worker a target prefers (order_by), and which waiting task goes first."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from switchboard.expressions import OrderClause

from .documents import resolve

_LACKING = (1, 0)


def order_key(order_by: Sequence[OrderClause], worker_doc: Mapping[str, Any]) -> tuple[Any, ...]:
    """Sort key (smaller first) for a worker under a target's order_by.

    Per clause, workers with a number at the path come before workers lacking one, whatever the
    direction; DESC puts larger numbers first. Integers and finite floats are numbers; booleans,
    strings (even "5"), lists, objects and null count as lacking. Ties go to the caller's
    tie-breaker (longest idle).
    """
    key: list[tuple[int, int | float]] = []
    for clause in order_by:
        value = resolve(worker_doc, clause.path)
        if not _is_number(value):
            key.append(_LACKING)
        else:
            key.append((0, -value if clause.descending else value))
    return tuple(key)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def task_sort_key(priority: int, virtual_start_ms: int, sid: str, lifo: bool) -> tuple[Any, ...]:
    """Sort key (smaller first) for the tasks waiting in one queue.

    FIFO: higher priority first, then the older virtual start time, then the SID (for a total
    order). LIFO: the newest virtual start time first; priority is ignored. FIFO keys compare
    across FIFO queues (priority is global); FIFO and LIFO keys have the same shape but do not
    mean anything compared with each other: the workspace's PrioritizeQueueOrder picks the kind
    of queue first.
    """
    if lifo:
        return (0, -virtual_start_ms, sid)
    return (-priority, virtual_start_ms, sid)
