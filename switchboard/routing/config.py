"""Workflow configuration documents: validate the JSON and compile it into frozen dataclasses.

Every error names where in the document it is (`task_routing.filters[1].targets[0].timeout`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from switchboard.expressions import (
    Expression,
    ExpressionError,
    KeyRef,
    OrderClause,
    compile_expression,
    parse_order_by,
)
from switchboard.models import Prefix, is_sid

MAX_CONFIGURATION_BYTES = 1_038_576
MAX_PRIORITY = 2_147_483_647
# Not documented by TaskRouter; a 32-bit bound keeps cumulative deadlines far inside BIGINT.
MAX_TIMEOUT = 2_147_483_647
TIME_VARIABLES = ("currentTime", "currentHour", "currentMin", "dayOfWeek")
TARGET_PREFIXES = ("task", "worker", "taskrouter")
SKIP_COUNTERS = ("available", "unavailable")
_SKIP_KEYS = "skip_if keys are workers.available, workers.unavailable or workers.<Activity SID>"

TARGET_KEYS = (
    "queue",
    "priority",
    "timeout",
    "expression",
    "order_by",
    "skip_if",
    "known_worker_sid",
    "known_worker_friendly_name",
)
# default_filter: a target without a timeout; `task_queue_sid` is the legacy spelling of `queue`.
DEFAULT_FILTER_KEYS = (*(key for key in TARGET_KEYS if key != "timeout"), "task_queue_sid")
# `friendly_name` is what Twilio's older helper libraries (Java, PHP, Ruby, Node) wrote.
FILTER_KEYS = ("filter_friendly_name", "friendly_name", "expression", "targets")
TASK_ROUTING_KEYS = ("filters", "default_filter")

# A path into the task's attributes: task.a.b[0] (names as in the expression language).
_KNOWN_WORKER_PATH = re.compile(r"task(?:\.[A-Za-z_$][A-Za-z0-9_$]*|\[[0-9]+\])+")
_PATH_PART = re.compile(r"\.([A-Za-z_$][A-Za-z0-9_$]*)|\[([0-9]+)\]")
# Up to 4000 digits: longer strings would hit Python's int-conversion limit.
_INTEGER_STRING = re.compile(r"-?[0-9]{1,4000}")


class ConfigurationError(ValueError):
    """An invalid workflow configuration: what is wrong, and where (`pointer`, "" for the whole)."""

    def __init__(self, message: str, pointer: str = "") -> None:
        # JSON escapes can smuggle lone surrogates into keys and values; keep the text encodable.
        message, pointer = _encodable(message), _encodable(pointer)
        super().__init__(message, pointer)
        self.message = message
        self.pointer = pointer

    def __str__(self) -> str:
        return f"{self.pointer}: {self.message}" if self.pointer else self.message


@dataclass(frozen=True)
class Target:
    """One routing step: a queue, and how the task behaves while it waits there."""

    queue_sid: str
    priority: int | None  # overrides the task's priority while in this target
    timeout: int | None  # seconds; None = terminal target
    expression: Expression | None  # over {"task": …, "worker": …, "taskrouter": …}
    order_by: tuple[OrderClause, ...]
    skip_if: Expression | None  # over {"workers": {"available": n, "unavailable": n, "WA…": n}}
    known_worker_sid: tuple[str | int, ...] | None  # path into the task's attributes
    known_worker_friendly_name: tuple[str | int, ...] | None


@dataclass(frozen=True)
class Filter:
    name: str  # filter_friendly_name, or ""
    expression: Expression  # over the task's attributes and the `taskrouter` time variables
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class WorkflowConfig:
    filters: tuple[Filter, ...]
    default_filter: Target | None
    queue_sids: frozenset[str]  # every queue referenced, for the engine's existence check


def parse_workflow_configuration(text: str) -> WorkflowConfig:
    """Validate and compile a workflow configuration (JSON text); raises ConfigurationError."""
    document = _load(text)
    if not isinstance(document, dict):
        raise ConfigurationError(
            f'the configuration must be a JSON object like {{"task_routing": {{…}}}}, '
            f"got {_kind(document)}"
        )
    _reject_unknown(document, ("task_routing",), "", "the configuration")
    routing = document.get("task_routing")
    if routing is None:
        raise ConfigurationError("is required", "task_routing")
    routing = _object(routing, "task_routing")
    _reject_unknown(routing, TASK_ROUTING_KEYS, "task_routing", "task_routing")
    filters = _filters(routing.get("filters"), "task_routing.filters")
    default = _default_filter(routing.get("default_filter"), "task_routing.default_filter")
    queues = {target.queue_sid for item in filters for target in item.targets}
    if default is not None:
        queues.add(default.queue_sid)
    return WorkflowConfig(filters, default, frozenset(queues))


# -- the document -----------------------------------------------------------------------------


def _load(text: str) -> Any:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_CONFIGURATION_BYTES:
        raise ConfigurationError(
            f"the configuration is {size} bytes; the limit is {MAX_CONFIGURATION_BYTES} bytes"
        )
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise ConfigurationError(
            f"invalid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except ConfigurationError:
        raise
    except RecursionError:
        raise ConfigurationError("invalid JSON: nested too deeply") from None
    except ValueError:  # an integer literal longer than Python converts (4300 digits)
        raise ConfigurationError("invalid JSON: a number has too many digits") from None


def _reject_constant(name: str) -> Any:
    raise ConfigurationError(f"invalid JSON: {name} is not a JSON value")


def _object(value: Any, pointer: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigurationError(f"must be an object, got {_kind(value)}", pointer)
    return value


def _reject_unknown(obj: dict[str, Any], allowed: tuple[str, ...], pointer: str, what: str) -> None:
    for key in obj:
        if key not in allowed:
            raise ConfigurationError(
                f"unknown key; {what} takes {', '.join(allowed)}", _at(pointer, key)
            )


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _encodable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _at(pointer: str, key: str) -> str:
    return f"{pointer}.{key}" if pointer else key


# -- filters and targets ----------------------------------------------------------------------


def _filters(value: Any, pointer: str) -> tuple[Filter, ...]:
    if value is None:  # a configuration with only a default_filter is a plain queue
        return ()
    if not isinstance(value, list):
        raise ConfigurationError(f"must be a list of filters, got {_kind(value)}", pointer)
    return tuple(_filter(item, f"{pointer}[{index}]") for index, item in enumerate(value))


def _filter(value: Any, pointer: str) -> Filter:
    obj = _object(value, pointer)
    _reject_unknown(obj, FILTER_KEYS, pointer, "a filter")
    name = obj.get("filter_friendly_name")
    name_key = "filter_friendly_name"
    if name is None:
        name, name_key = obj.get("friendly_name"), "friendly_name"
    if name is not None and not isinstance(name, str):
        raise ConfigurationError(f"must be a string, got {_kind(name)}", _at(pointer, name_key))
    expression = _expression(obj, "expression", pointer, _check_filter_keys)
    if expression is None:
        raise ConfigurationError("is required", _at(pointer, "expression"))
    targets = _targets(obj.get("targets"), _at(pointer, "targets"))
    return Filter(name or "", expression, targets)


def _targets(value: Any, pointer: str) -> tuple[Target, ...]:
    if value is None:
        raise ConfigurationError("is required: a filter needs at least one target", pointer)
    if not isinstance(value, list):
        raise ConfigurationError(f"must be a list of targets, got {_kind(value)}", pointer)
    if not value:
        raise ConfigurationError("must not be empty: a filter needs at least one target", pointer)
    targets: list[Target] = []
    for index, item in enumerate(value):
        inherited = targets[-1].queue_sid if targets else None
        targets.append(_target(item, f"{pointer}[{index}]", inherited))
    return tuple(targets)


def _target(value: Any, pointer: str, inherited_queue: str | None) -> Target:
    obj = _object(value, pointer)
    _reject_unknown(obj, TARGET_KEYS, pointer, "a target")
    queue = _queue(obj, "queue", pointer) or inherited_queue
    if queue is None:
        raise ConfigurationError(
            "is required (later targets of a filter may omit it to reuse the previous queue)",
            _at(pointer, "queue"),
        )
    timeout = _integer(obj, "timeout", pointer, 1, MAX_TIMEOUT)
    return _compile_target(obj, pointer, queue, timeout)


def _default_filter(value: Any, pointer: str) -> Target | None:
    if value is None:
        return None
    obj = _object(value, pointer)
    if obj.get("timeout") is not None:
        raise ConfigurationError(
            "the default_filter cannot have a timeout: tasks wait there until their own TTL",
            _at(pointer, "timeout"),
        )
    obj = {key: item for key, item in obj.items() if key != "timeout"}
    _reject_unknown(obj, DEFAULT_FILTER_KEYS, pointer, "the default_filter")
    queue = _queue(obj, "queue", pointer)
    legacy = _queue(obj, "task_queue_sid", pointer)
    if queue is not None and legacy is not None:
        raise ConfigurationError(
            "give either queue or task_queue_sid (its legacy spelling), not both", pointer
        )
    queue = queue or legacy
    if queue is None:
        raise ConfigurationError("is required", _at(pointer, "queue"))
    return _compile_target(obj, pointer, queue, None)


def _compile_target(obj: dict[str, Any], pointer: str, queue: str, timeout: int | None) -> Target:
    by_sid = _known_worker_path(obj, "known_worker_sid", pointer)
    by_name = _known_worker_path(obj, "known_worker_friendly_name", pointer)
    if by_sid is not None and by_name is not None:
        raise ConfigurationError(
            "known_worker_sid and known_worker_friendly_name cannot both be set", pointer
        )
    return Target(
        queue_sid=queue,
        priority=_integer(obj, "priority", pointer, 0, MAX_PRIORITY),
        timeout=timeout,
        expression=_expression(obj, "expression", pointer, _check_target_keys),
        order_by=_order_by(obj, pointer),
        skip_if=_expression(obj, "skip_if", pointer, _check_skip_keys),
        known_worker_sid=by_sid,
        known_worker_friendly_name=by_name,
    )


# -- values -----------------------------------------------------------------------------------


def _queue(obj: dict[str, Any], key: str, pointer: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not is_sid(value, Prefix.TASK_QUEUE):
        raise ConfigurationError(
            f"must be a TaskQueue SID (WQ and 32 hexadecimal digits), got {_show(value)}",
            _at(pointer, key),
        )
    return value


def _integer(obj: dict[str, Any], key: str, pointer: str, low: int, high: int) -> int | None:
    """An integer given as a JSON number (10, 10.0) or a string of digits ("10"); null = absent."""
    value = obj.get(key)
    if value is None:
        return None
    number = _as_integer(value)
    if number is None:
        raise ConfigurationError(
            f'must be an integer (10 or "10"), got {_show(value)}', _at(pointer, key)
        )
    if not low <= number <= high:
        raise ConfigurationError(
            f"must be between {low} and {high}, got {number}", _at(pointer, key)
        )
    return number


def _as_integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and _INTEGER_STRING.fullmatch(value):
        return int(value)
    return None


def _string(obj: dict[str, Any], key: str, pointer: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"must be a string, got {_kind(value)}", _at(pointer, key))
    return value


_KeyCheck = Callable[[KeyRef], str | None]


def _expression(obj: dict[str, Any], key: str, pointer: str, check: _KeyCheck) -> Expression | None:
    text = _string(obj, key, pointer)
    if text is None:
        return None
    try:
        expression = compile_expression(text)
    except ExpressionError as error:
        raise ConfigurationError(str(error), _at(pointer, key)) from None
    for ref in expression.references:
        problem = check(ref)
        if problem is not None:
            raise ConfigurationError(
                f"{problem} (key {ref.text!r} at column {ref.position + 1})", _at(pointer, key)
            )
    return expression


def _order_by(obj: dict[str, Any], pointer: str) -> tuple[OrderClause, ...]:
    text = _string(obj, "order_by", pointer)
    if text is None:
        return ()
    try:
        return parse_order_by(text)
    except ExpressionError as error:
        raise ConfigurationError(str(error), _at(pointer, "order_by")) from None


def _known_worker_path(obj: dict[str, Any], key: str, pointer: str) -> tuple[str | int, ...] | None:
    text = _string(obj, key, pointer)
    if text is None:
        return None
    text = text.strip()
    if not _KNOWN_WORKER_PATH.fullmatch(text):
        raise ConfigurationError(
            f"must name a task attribute as task.<key> (for example task.agent_sid), "
            f"got {_show(text)}",
            _at(pointer, key),
        )
    return tuple(
        name if name else int(index) for name, index in _PATH_PART.findall(text[len("task") :])
    )


# -- which keys each kind of expression may use -----------------------------------------------


def _check_time_variable(ref: KeyRef) -> str | None:
    if len(ref.path) == 2 and ref.path[1] in TIME_VARIABLES:
        return None
    names = ", ".join(f"taskrouter.{name}" for name in TIME_VARIABLES)
    return f"unknown time variable; use {names}"


def _check_filter_keys(ref: KeyRef) -> str | None:
    # Bare keys are task attributes; only the `taskrouter.` namespace is reserved.
    return _check_time_variable(ref) if ref.path[0] == "taskrouter" else None


def _check_target_keys(ref: KeyRef) -> str | None:
    head = ref.path[0]
    if head not in TARGET_PREFIXES or len(ref.path) < 2 or not isinstance(ref.path[1], str):
        return "keys in a target expression must start with task., worker. or taskrouter."
    return _check_time_variable(ref) if head == "taskrouter" else None


def _check_skip_keys(ref: KeyRef) -> str | None:
    path = ref.path
    if len(path) == 2 and path[0] == "workers" and isinstance(path[1], str):
        counter = path[1]
        return None if counter in SKIP_COUNTERS or is_sid(counter, Prefix.ACTIVITY) else _SKIP_KEYS
    return _SKIP_KEYS
