"""Comparison semantics (the reference operators) and the compiler from a parsed tree to Python.

The generated function inlines the common cases and calls the reference operators for the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from .parser import Comparison, Constant, Key, Logical, Node, Operand

Matcher = Callable[[Mapping[str, Any]], bool]

# --- Reference semantics ------------------------------------------------------------------
# Values are JSON values. Numbers are exactly int or float (so bool, an int subclass, is never a
# number); strings, lists and dicts may be subclasses. A string counts as a number only when it is
# written like a JSON number: optional '-', digits, optional '.digits' ("06" is 6, " 6" and "1e3"
# are not numbers).


def numeric_string(text: str) -> int | float | None:
    """The number `text` spells (e.g. "06" -> 6, "-2.5" -> -2.5), or None if it is not one."""
    if not text.isascii():  # str.isdigit() also accepts non-ASCII digits such as "²"
        return None
    body = text[1:] if text[:1] == "-" else text
    if body.isdigit():
        try:
            return int(text)
        except ValueError:  # more digits than sys.get_int_max_str_digits() allows
            return float(text)
    whole, dot, fraction = body.partition(".")
    if dot and whole.isdigit() and fraction.isdigit():
        return float(text)
    return None


def as_number(value: Any) -> int | float | None:
    """`value` as a number if it is an int/float (not bool) or a numeric string, else None."""
    kind = type(value)
    if kind is int or kind is float:
        return value  # type: ignore[no-any-return]
    if isinstance(value, str):
        return numeric_string(value)
    return None


def equal(left: Any, right: Any) -> bool:
    """Scalar equality: null only equals null, booleans only booleans, numbers compare by value
    with numbers and numeric strings, strings exactly, dicts only equal dicts; lists never."""
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    left_number, right_number = as_number(left), as_number(right)
    if left_number is not None and right_number is not None:
        return left_number == right_number
    if left is None or isinstance(left, bool):
        return left is right
    return isinstance(left, dict) and isinstance(right, dict) and left == right


def op_eq(left: Any, right: Any) -> bool:
    """`==`: false whenever either side is a list (a scalar operator on an array)."""
    return not isinstance(left, list) and not isinstance(right, list) and equal(left, right)


def op_ne(left: Any, right: Any) -> bool:
    """`!=`: also false whenever either side is a list, so it is not simply `not ==`."""
    return not isinstance(left, list) and not isinstance(right, list) and not equal(left, right)


def ordered_pair(left: Any, right: Any) -> tuple[Any, Any] | None:
    """The two values an ordering operator compares: both numeric, else both strings, else None."""
    left_number, right_number = as_number(left), as_number(right)
    if left_number is not None and right_number is not None:
        return left_number, right_number
    if isinstance(left, str) and isinstance(right, str):
        return left, right
    return None


def op_gt(left: Any, right: Any) -> bool:
    """`>` under the ordering rules of ordered_pair (anything else is false)."""
    pair = ordered_pair(left, right)
    return pair is not None and pair[0] > pair[1]


def op_ge(left: Any, right: Any) -> bool:
    """`>=` under the ordering rules of ordered_pair."""
    pair = ordered_pair(left, right)
    return pair is not None and pair[0] >= pair[1]


def op_lt(left: Any, right: Any) -> bool:
    """`<` under the ordering rules of ordered_pair."""
    pair = ordered_pair(left, right)
    return pair is not None and pair[0] < pair[1]


def op_le(left: Any, right: Any) -> bool:
    """`<=` under the ordering rules of ordered_pair."""
    pair = ordered_pair(left, right)
    return pair is not None and pair[0] <= pair[1]


def op_contains(left: Any, right: Any) -> bool:
    """`CONTAINS`: case-sensitive substring test; false unless both sides are strings."""
    return isinstance(left, str) and isinstance(right, str) and right in left


def op_has(left: Any, right: Any) -> bool:
    """`HAS`: a list on the left with an element equal to the scalar on the right."""
    if not isinstance(left, list) or isinstance(right, list):
        return False
    return any(equal(item, right) for item in left)


def op_in(left: Any, right: Any) -> bool:
    """`IN`: the scalar on the left equals some element of the list on the right."""
    return op_has(right, left)


def op_not_in(left: Any, right: Any) -> bool:
    """`NOT IN`: a scalar left, a list right, and no element equal; false for any other shapes."""
    if not isinstance(right, list) or isinstance(left, list):
        return False
    return not op_has(right, left)


OPERATIONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": op_eq,
    "!=": op_ne,
    ">": op_gt,
    ">=": op_ge,
    "<": op_lt,
    "<=": op_le,
    "CONTAINS": op_contains,
    "HAS": op_has,
    "IN": op_in,
    "NOT IN": op_not_in,
}


def constant_value(operand: Constant) -> Any:
    """The runtime value of a literal: list literals become lists, as attribute arrays are."""
    return list(operand.value) if operand.is_list else operand.value


# --- Compiler -------------------------------------------------------------------------------
# Each comparison becomes one Python expression. Key lookups are inlined (`doc.get`, then
# `.get`/`[n]` guarded by isinstance) and bound to walrus temporaries so every value is read once.
# The fast paths below are exact specialisations of the reference operators above for one
# constant side; the corpus is run through both this compiler and the reference (explain()).

_MIRRORED = {"==": "==", "!=": "!=", ">": "<", ">=": "<=", "<": ">", "<=": ">="}
_HELPER_NAMES = {op: f"_op_{index}" for index, op in enumerate(OPERATIONS)}


def _is_plain_string(value: Any) -> bool:
    """A string no number can equal: comparisons with it reduce to Python string operations."""
    return isinstance(value, str) and numeric_string(value) is None


class _Compiler:
    def __init__(self) -> None:
        self.names = 0
        self.namespace: dict[str, Any] = {
            "_number": numeric_string,
            "_Mapping": Mapping,
            "_EMPTY": MappingProxyType({}),
            **{name: OPERATIONS[op] for op, name in _HELPER_NAMES.items()},
        }

    def temp(self) -> str:
        self.names += 1
        return f"_{self.names}"

    def constant(self, value: Any) -> str:
        """Source for a constant: a literal for scalars, a namespace entry for lists."""
        if isinstance(value, list):
            name = f"_c{len(self.namespace)}"
            self.namespace[name] = value
            return name
        return repr(value)

    def node(self, node: Node) -> str:
        if isinstance(node, Logical):
            joiner = " and " if node.op == "AND" else " or "
            return "(" + joiner.join(self.node(item) for item in node.items) + ")"
        return self.comparison(node)

    def key(self, path: tuple[str | int, ...]) -> str:
        code = f"doc.get({path[0]!r})"
        for segment in path[1:]:
            name = self.temp()
            if isinstance(segment, int):
                code = (
                    f"({name}[{segment}] if isinstance({name} := {code}, list)"
                    f" and len({name}) > {segment} else None)"
                )
            else:
                code = f"({name}.get({segment!r}) if isinstance({name} := {code}, dict) else None)"
        return code

    def comparison(self, node: Comparison) -> str:
        left, right, op = node.left, node.right, node.op
        if isinstance(left, Constant) and isinstance(right, Constant):
            # A comparison of two literals (the `1==1` idiom) is decided once, here.
            return repr(OPERATIONS[op](constant_value(left), constant_value(right)))
        if isinstance(left, Key) and isinstance(right, Constant):
            fast = self.key_vs_constant(op, self.key(left.path), constant_value(right))
        elif isinstance(left, Constant) and isinstance(right, Key):
            fast = self.constant_vs_key(op, constant_value(left), self.key(right.path))
        else:
            fast = None
        return fast if fast is not None else self.call(op, left, right)

    def call(self, op: str, left: Operand, right: Operand) -> str:
        def operand(side: Operand) -> str:
            if isinstance(side, Key):
                return self.key(side.path)
            return self.constant(constant_value(side))

        return f"{_HELPER_NAMES[op]}({operand(left)}, {operand(right)})"

    def constant_vs_key(self, op: str, value: Any, key: str) -> str | None:
        if op in _MIRRORED:
            return self.key_vs_constant(_MIRRORED[op], key, value)
        if op == "IN":  # `"en" IN languages` is `languages HAS "en"`
            return "False" if isinstance(value, list) else self.key_vs_constant("HAS", key, value)
        if op == "HAS":  # `["a", "b"] HAS team` is `team IN ["a", "b"]`
            return self.key_vs_constant("IN", key, value) if isinstance(value, list) else "False"
        return None

    def key_vs_constant(self, op: str, key: str, value: Any) -> str | None:
        if op in ("==", "!="):
            return self.equality(op, key, value)
        if op in (">", ">=", "<", "<="):
            return self.ordering(op, key, value)
        t = self.temp()
        if op == "CONTAINS":
            if not isinstance(value, str):
                return "False"
            return f"(isinstance({t} := {key}, str) and {value!r} in {t})"
        if op == "HAS":
            if isinstance(value, list):
                return "False"
            if value is None or _is_plain_string(value):
                # `in` on a list tests `is` then `==`; no JSON value other than that exact string
                # (or None) equals it, so this is the HAS rule exactly.
                return f"(isinstance({t} := {key}, list) and {value!r} in {t})"
            return None
        if not isinstance(value, list):  # IN / NOT IN need a list on the right
            return "False"
        if not value or not all(_is_plain_string(item) for item in value):
            return None
        members = "{" + ", ".join(repr(item) for item in value) + ",}"
        if op == "IN":
            return f"(isinstance({t} := {key}, str) and {t} in {members})"
        return (
            f"(not isinstance({t} := {key}, list)"
            f" and not (isinstance({t}, str) and {t} in {members}))"
        )

    def equality(self, op: str, key: str, value: Any) -> str | None:
        t = self.temp()
        if isinstance(value, list):
            return "False"
        if value is None or isinstance(value, bool):
            if op == "==":
                return f"({key} is {value!r})"
            return f"(({t} := {key}) is not {value!r} and not isinstance({t}, list))"
        if _is_plain_string(value):
            if op == "==":
                return f"({key} == {value!r})"
            return f"(not isinstance({t} := {key}, list) and {t} != {value!r})"
        if isinstance(value, str):
            return None
        # A number: equal to numbers of the same value and to strings that spell it.
        same = (
            f"({t} == {value!r} if (type({t} := {key}) is int or type({t}) is float)"
            f" else isinstance({t}, str) and _number({t}) == {value!r})"
        )
        if op == "==":
            return same
        return f"(not {same} and not isinstance({t}, list))"

    def ordering(self, op: str, key: str, value: Any) -> str | None:
        t = self.temp()
        if _is_plain_string(value):
            # Against a non-numeric string only string-vs-string ordering can apply.
            return f"(isinstance({t} := {key}, str) and {t} {op} {value!r})"
        if type(value) is not int and type(value) is not float:
            return None if isinstance(value, str) else "False"
        n = self.temp()
        return (
            f"({t} {op} {value!r} if (type({t} := {key}) is int or type({t}) is float)"
            f" else isinstance({t}, str) and ({n} := _number({t})) is not None"
            f" and {n} {op} {value!r})"
        )


def compile_matcher(node: Node) -> tuple[Matcher, str]:
    """Compile a parsed tree to a total function doc -> bool, and return it with its source.

    The top level may be any Mapping (anything else is treated as an empty object); nested
    objects must be dicts and arrays lists, as json.loads produces. It never raises for JSON.
    """
    compiler = _Compiler()
    # A document that is not an object (json.loads can return a list or a scalar) has no keys;
    # the type() test keeps that guard to one comparison for the usual dict.
    source = (
        "def _match(doc):\n"
        "    if type(doc) is not dict and not isinstance(doc, _Mapping):\n"
        "        doc = _EMPTY\n"
        f"    return {compiler.node(node)}\n"
    )
    code = compile(source, "<switchboard expression>", "exec")
    namespace = compiler.namespace
    # Safe to exec: user text reaches the source only as repr() of parsed literals and names.
    exec(code, namespace)
    matcher: Matcher = namespace["_match"]
    return matcher, source
