"""The documents workflow expressions are evaluated against, and the checks made with them.

Time comes in as `now_ms` (milliseconds since the epoch, UTC); nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config import Target

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday


def time_variables(now_ms: int) -> dict[str, object]:
    """`taskrouter.*` at `now_ms`, in UTC: currentTime 805 (int HHMM), currentHour "08",
    currentMin "05", dayOfWeek "Mon".."Sun"."""
    days, minute_of_day = divmod(now_ms // 60_000, 1440)
    hour, minute = divmod(minute_of_day, 60)
    return {
        "currentTime": hour * 100 + minute,
        "currentHour": f"{hour:02d}",
        "currentMin": f"{minute:02d}",
        "dayOfWeek": _DAYS[(days + _EPOCH_WEEKDAY) % 7],
    }


def filter_document(task_attributes: Mapping[str, Any], now_ms: int) -> dict[str, Any]:
    """What a filter expression sees: the task's attributes, plus `taskrouter` (which replaces a
    task attribute of that name: the namespace is reserved for the time variables)."""
    return {**task_attributes, "taskrouter": time_variables(now_ms)}


def target_document(
    task_attributes: Mapping[str, Any], worker_doc: Mapping[str, Any], now_ms: int
) -> dict[str, Any]:
    """What a target expression sees for one worker: `task.`, `worker.` and `taskrouter.` keys."""
    return {"task": task_attributes, "worker": worker_doc, "taskrouter": time_variables(now_ms)}


def skip_document(
    available: int, unavailable: int, by_activity: Mapping[str, int]
) -> dict[str, Any]:
    """What a `skip_if` sees: counts of the step queue's workers, by availability and by Activity
    SID (the counts ignore the target expression and channel capacity, as in TaskRouter)."""
    return {"workers": {**by_activity, "available": available, "unavailable": unavailable}}


def should_skip(
    target: Target, available: int, unavailable: int, by_activity: Mapping[str, int]
) -> bool:
    """Whether the target's `skip_if` holds (False when it has none). The engine asks only when
    the task enters the target and no reservation could be created at once."""
    if target.skip_if is None:
        return False
    return target.skip_if.matches(skip_document(available, unavailable, by_activity))


def known_worker_value(target: Target, task_attributes: Mapping[str, Any]) -> str | None:
    """The worker SID or friendly name the target's known_worker_* path finds in the task's
    attributes; None when the target has no such path or the value is not a non-empty string."""
    path = target.known_worker_sid
    if path is None:
        path = target.known_worker_friendly_name
    if path is None:
        return None
    value = resolve(task_attributes, path)
    return value if isinstance(value, str) and value else None


def known_worker_admits(
    target: Target, task_attributes: Mapping[str, Any], worker_sid: str, friendly_name: str
) -> bool:
    """Whether the target's known-worker constraint lets this worker take the task.

    True when the target names no known worker. When it does and the task's value is missing,
    null or not a string, no worker qualifies: the task stays in the target until its timeout,
    skip_if or TTL. Friendly names compare case-insensitively, as their uniqueness does.
    """
    if target.known_worker_sid is None and target.known_worker_friendly_name is None:
        return True
    wanted = known_worker_value(target, task_attributes)
    if wanted is None:
        return False
    if target.known_worker_sid is not None:
        return wanted == worker_sid
    return wanted.casefold() == friendly_name.casefold()


def resolve(doc: Mapping[str, Any], path: tuple[str | int, ...]) -> Any:
    """The value at `path` in a JSON document, or None where a step is missing (as expressions)."""
    value: Any = doc
    for part in path:
        if isinstance(part, int):
            if not isinstance(value, list) or part >= len(value):
                return None
            value = value[part]
        elif isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
    return value
