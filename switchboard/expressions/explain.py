"""Why an expression did or did not match a document: a tree-walking evaluation over the reference
operators that records each false comparison with its resolved values and a short reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .evaluate import OPERATIONS, constant_value, ordered_pair
from .lexer import path_text
from .parser import Comparison, Key, Node, Operand

_ORDER_WORDS = {
    ">": "greater than",
    ">=": "greater than or equal to",
    "<": "less than",
    "<=": "less than or equal to",
}


@dataclass(frozen=True)
class Failure:
    """One comparison that evaluated to false, with the values it saw (None when missing)."""

    text: str
    position: int
    left: Any
    right: Any
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: text, position, left, right, reason."""
        return {
            "text": self.text,
            "position": self.position,
            "left": self.left,
            "right": self.right,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Explanation:
    """The outcome of matching one document, and the false comparisons that decided a no-match."""

    matched: bool
    failures: tuple[Failure, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: {"matched": bool, "failures": [Failure.to_dict(), ...]}."""
        return {"matched": self.matched, "failures": [f.to_dict() for f in self.failures]}

    def format(self) -> str:
        """Human text: "match", or "no match: `level > 3` is false (2 is not greater than 3)",
        with one indented line per failure when there are several."""
        if self.matched:
            return "match"
        lines = [f"`{f.text}` is false ({f.reason})" for f in self.failures]
        if len(lines) == 1:
            return f"no match: {lines[0]}"
        return "no match:\n" + "\n".join(f"  {line}" for line in lines)


def explain(node: Node, doc: Mapping[str, Any]) -> Explanation:
    """Evaluate `node` against `doc`. For AND the first false operand explains the result; for
    OR every operand was false, so all of their failures are reported."""
    matched, failures = _visit(node, doc)
    return Explanation(matched, () if matched else tuple(failures))


def _visit(node: Node, doc: Mapping[str, Any]) -> tuple[bool, list[Failure]]:
    if isinstance(node, Comparison):
        return _compare(node, doc)
    collected: list[Failure] = []
    for item in node.items:
        matched, failures = _visit(item, doc)
        if node.op == "AND" and not matched:
            return False, failures
        if node.op == "OR" and matched:
            return True, []
        collected.extend(failures)
    return node.op == "AND", collected


def _compare(node: Comparison, doc: Mapping[str, Any]) -> tuple[bool, list[Failure]]:
    left, left_missing = _operand(node.left, doc)
    right, right_missing = _operand(node.right, doc)
    if OPERATIONS[node.op](left, right):
        return True, []
    reason = left_missing or right_missing or _reason(node.op, left, right)
    return False, [Failure(node.text, node.position, left, right, reason)]


def _operand(operand: Operand, doc: Mapping[str, Any]) -> tuple[Any, str | None]:
    if isinstance(operand, Key):
        return resolve(doc, operand.path)
    return constant_value(operand), None


def resolve(doc: Mapping[str, Any], path: tuple[str | int, ...]) -> tuple[Any, str | None]:
    """The value at `path` and, when it resolves to null for want of data, why.

    Matches the compiled lookup: the top level is any Mapping, nested objects must be dicts and
    arrays lists; a missing key, an index out of range or a step into a non-container is null
    (as is every key of a document that is not an object).
    """
    current: Any = doc
    for depth, segment in enumerate(path):
        where = path_text(path[:depth])
        if isinstance(segment, int):
            if not isinstance(current, list):
                return None, f"'{where}' is not an array"
            if segment >= len(current):
                return None, f"'{where}' has no element [{segment}]"
            current = current[segment]
        elif not depth and not isinstance(current, Mapping):
            return None, "the document is not an object"
        elif depth and not isinstance(current, dict):
            return None, f"'{where}' is not an object"
        elif segment not in current:
            return None, f"key '{path_text(path[: depth + 1])}' is missing"
        else:
            current = current[segment]
    return current, None


def _reason(op: str, left: Any, right: Any) -> str:
    """A short human explanation of why `left op right` is false."""
    shown_left, shown_right = _show(left), _show(right)
    if op in ("==", "!=", ">", ">=", "<", "<="):
        if isinstance(left, list) or isinstance(right, list):
            return f"'{op}' compares single values, not arrays (use HAS or IN)"
        if op == "==":
            return f"{shown_left} is not equal to {shown_right}"
        if op == "!=":
            return f"{shown_left} is equal to {shown_right}"
        if ordered_pair(left, right) is None:
            return f"{shown_left} and {shown_right} cannot be ordered (needs numbers or strings)"
        return f"{shown_left} is not {_ORDER_WORDS[op]} {shown_right}"
    if op == "CONTAINS":
        if not (isinstance(left, str) and isinstance(right, str)):
            return "CONTAINS needs a string on both sides"
        return f"{shown_left} does not contain {shown_right}"
    if op == "HAS":
        if not isinstance(left, list):
            return "an array operator needs an array on the left"
        if isinstance(right, list):
            return "HAS needs a single value on the right"
        return f"{shown_left} has no element equal to {shown_right}"
    if not isinstance(right, list):
        return f"{op} needs an array on the right"
    if isinstance(left, list):
        return f"{op} needs a single value on the left"
    return f"{shown_left} is {'not ' if op == 'IN' else ''}in {shown_right}"


def _show(value: Any) -> str:
    """A value as JSON text, shortened for one-line messages."""
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."
