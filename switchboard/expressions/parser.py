"""Recursive-descent parser: tokens -> a small tree of frozen dataclasses (and `order_by` clauses).

Grammar (AND binds tighter than OR; there is no unary NOT):
    or_expr := and_expr (OR and_expr)* ; and_expr := primary (AND primary)*
    primary := "(" or_expr ")" | operand operator operand
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from .lexer import ExpressionError, Token, path_text, tokenize

# Python's own parser refuses about 200 nested parentheses in generated code, and each level here
# costs one or two of them; a real routing expression never nests more than a handful.
MAX_DEPTH = 50
# Compiling costs about 0.2 ms per comparison, all of it on the event loop. A hand-written
# routing expression holds a few dozen; 3,000 leaves room for generated ones, while a hostile
# one of 100,000 would hold the server for many seconds.
MAX_COMPARISONS = 3000

# Keywords that are operators on their own (NOT is one only when IN follows).
_OPERATOR_WORDS = frozenset({"CONTAINS", "HAS", "IN"})


@dataclass(frozen=True, slots=True)
class Key:
    """A key path operand, e.g. worker.skills[0]."""

    path: tuple[str | int, ...]
    text: str
    position: int


@dataclass(frozen=True, slots=True)
class Constant:
    """A literal operand; a list literal holds a tuple of scalars in `value`."""

    value: Any
    is_list: bool


Operand = Key | Constant


@dataclass(frozen=True, slots=True)
class Comparison:
    """`left op right`; op is canonical: == != > >= < <= CONTAINS HAS IN "NOT IN"."""

    op: str
    left: Operand
    right: Operand
    text: str
    position: int


@dataclass(frozen=True, slots=True)
class Logical:
    """AND / OR over two or more operands (nested groups of the same kind are flattened)."""

    op: str
    items: tuple[Node, ...]


Node = Comparison | Logical


@dataclass(frozen=True)
class OrderClause:
    """One `order_by` clause: a path below `worker.` and its direction."""

    path: tuple[str | int, ...]
    descending: bool


def parse(text: str) -> Node:
    """Parse expression text into a tree; raises ExpressionError (without `expression` set)."""
    parser = _Parser(text, tokenize(text))
    if parser.peek.kind == "eof":
        raise ExpressionError("empty expression", 0)
    node = parser.logical("OR")
    parser.expect_end()
    return node


class _Parser:
    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0
        self.depth = 0  # open parentheses around the current position
        self.comparisons = 0

    @property
    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def source(self, token: Token) -> str:
        written = self.text[token.position : token.end]
        return written if len(written) <= 40 else written[:37] + "..."

    def unexpected(self, token: Token, context: str) -> ExpressionError:
        if token.kind == "keyword" and token.value == "NOT":
            return ExpressionError("NOT is only valid in NOT IN", token.position)
        if token.kind == ")" and self.depth == 0:
            return ExpressionError("unmatched ')'", token.position)
        return ExpressionError(f"unexpected token {self.source(token)!r}{context}", token.position)

    def expect_end(self) -> None:
        token = self.peek
        if token.kind != "eof":
            raise self.unexpected(token, "; expected AND, OR or the end of the expression")

    def logical(self, op: str) -> Node:
        """`op` is "OR" (operands are AND groups) or "AND" (operands are primaries)."""
        items: list[Node] = []
        while True:
            node = self.logical("AND") if op == "OR" else self.primary()
            # `(a AND b) AND c` is the same test as `a AND b AND c`; flattening keeps the
            # generated code shallow and the explanation identical.
            items.extend(node.items if isinstance(node, Logical) and node.op == op else [node])
            if not (self.peek.kind == "keyword" and self.peek.value == op):
                break
            self.advance()
        return items[0] if len(items) == 1 else Logical(op, tuple(items))

    def primary(self) -> Node:
        opening = self.peek
        if opening.kind != "(":
            return self.comparison()
        if self.depth >= MAX_DEPTH:
            message = f"parentheses nested too deeply (limit {MAX_DEPTH})"
            raise ExpressionError(message, opening.position)
        self.advance()
        self.depth += 1
        node = self.logical("OR")
        closing = self.peek
        if closing.kind == "eof":
            raise ExpressionError("unmatched '('", opening.position)
        if closing.kind != ")":
            raise self.unexpected(closing, "; expected AND, OR or ')'")
        self.advance()
        self.depth -= 1
        return node

    def comparison(self) -> Comparison:
        start = self.peek
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            message = f"too many comparisons (limit {MAX_COMPARISONS})"
            raise ExpressionError(message, start.position)
        after = f" after {self.source(self.tokens[self.index - 1])!r}" if self.index else ""
        left = self.operand(f"a comparison{after}")
        op_start = self.peek
        op = self.operator(start)
        written_op = self.text[op_start.position : self.tokens[self.index - 1].end]
        right = self.operand(f"a value after {written_op!r}")
        end = self.tokens[self.index - 1].end
        return Comparison(op, left, right, self.text[start.position : end], start.position)

    def operator(self, left: Token) -> str:
        token = self.peek
        if token.kind == "operator":
            self.advance()
            return str(token.value)
        if token.kind == "keyword" and token.value in _OPERATOR_WORDS:
            self.advance()
            return str(token.value)
        if token.kind == "keyword" and token.value == "NOT":
            following = self.tokens[self.index + 1]
            if following.kind == "keyword" and following.value == "IN":
                self.index += 2
                return "NOT IN"
            raise ExpressionError("NOT is only valid in NOT IN", token.position)
        operand = self.text[left.position : self.tokens[self.index - 1].end]
        if len(operand) > 40:
            operand = operand[:37] + "..."
        raise ExpressionError(f"expected an operator after {operand!r}", token.position)

    def operand(self, expected: str) -> Operand:
        """Read one operand; `expected` names what was wanted, for the error message."""
        token = self.peek
        if token.kind == "name":
            self.advance()
            return Key(token.value, path_text(token.value), token.position)
        if token.kind in ("string", "number", "constant"):
            self.advance()
            return Constant(token.value, is_list=False)
        if token.kind == "[":
            return self.list_literal()
        if token.kind == "eof":
            raise ExpressionError(f"expected {expected}", token.position)
        raise self.unexpected(token, f"; expected {expected}")

    def list_literal(self) -> Constant:
        opening = self.advance()
        values: list[Any] = []
        if self.peek.kind == "]":
            self.advance()
            return Constant((), is_list=True)
        while True:
            token = self.advance()
            if token.kind in ("string", "number", "constant"):
                values.append(token.value)
            elif token.kind == "eof":
                raise ExpressionError("unmatched '['", opening.position)
            elif token.kind == "[":
                raise ExpressionError("nested lists are not allowed", token.position)
            elif token.kind == "name":
                raise ExpressionError("a list may hold only constants, not keys", token.position)
            else:
                raise self.unexpected(token, " in a list")
            separator = self.advance()
            if separator.kind == "]":
                return Constant(tuple(values), is_list=True)
            if separator.kind == "eof":
                raise ExpressionError("unmatched '['", opening.position)
            if separator.kind != ",":
                raise self.unexpected(separator, "; expected ',' or ']' in a list")


@functools.lru_cache(maxsize=4096)
def parse_order_by(text: str) -> tuple[OrderClause, ...]:
    """Parse a workflow target's `order_by`: comma-separated `worker.<path> [ASC|DESC]` clauses.

    The direction is optional (default ASC) and case-insensitive; the prefix must be exactly
    `worker.`. Returns the clauses in order; raises ExpressionError (with `expression` set) on
    empty text, a missing or foreign prefix, an unknown direction, or a stray/trailing comma.

    The same text returns the same tuple (cached like `compile_expression`): a worker keeps
    its sort keys by the order_by's identity (engine/index.py), and the targets of many
    workflows that order by the same text then share one key per worker instead of
    crowding each other out of its few.
    """
    try:
        return _order_by(tokenize(text))
    except ExpressionError as error:
        raise ExpressionError(error.message, error.position, text) from None


def _order_by(tokens: list[Token]) -> tuple[OrderClause, ...]:
    if tokens[0].kind == "eof":
        raise ExpressionError("empty order_by", 0)
    clauses: list[OrderClause] = []
    index = 0
    while True:
        key = tokens[index]
        if key.kind != "name":
            raise ExpressionError("expected worker.<attribute>", key.position)
        if key.value[0] != "worker":
            raise ExpressionError("order_by keys must start with 'worker.'", key.position)
        if len(key.value) == 1 or not isinstance(key.value[1], str):
            raise ExpressionError("expected an attribute after 'worker.'", key.end)
        index += 1
        descending = False
        word = tokens[index]
        if (
            word.kind == "name"
            and len(word.value) == 1
            and str(word.value[0]).upper() in ("ASC", "DESC")
        ):
            descending = str(word.value[0]).upper() == "DESC"
            index += 1
        clauses.append(OrderClause(key.value[1:], descending))
        separator = tokens[index]
        if separator.kind == "eof":
            return tuple(clauses)
        if separator.kind != ",":
            raise ExpressionError(
                f"expected ASC, DESC or ',' after {path_text(key.value)!r}", separator.position
            )
        index += 1
