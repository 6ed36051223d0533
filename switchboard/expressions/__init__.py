"""TaskRouter's expression language: compile once (cached), then match JSON documents fast.

Also parses workflow `order_by` strings. Pure: imports only the standard library.
"""

# The language, as decided for Switchboard (each rule is a case in tests/expressions/corpus.json):
#
# Syntax
# * An expression is comparisons joined by AND / OR with parentheses; AND binds tighter than OR.
#   A bare operand (`level`, `true`, `"x"`) is an error, even as the whole expression; `1==1` is
#   the idiom for "always". There is no unary NOT: NOT is valid only in NOT IN. Parentheses group
#   comparisons, never values (`a == (1)` is an error).
# * Operators: `==` and `=`, `!=`, `>`, `>=`, `<`, `<=`, CONTAINS, HAS (alias `>-`), IN (alias
#   `<-`), NOT IN. `>-` and `<-` are read greedily: `level>-1` is `level HAS 1`; write
#   `level > -1` to compare with a negative number.
# * Keywords (AND OR IN NOT HAS CONTAINS true false null) are case-insensitive. After a dot every
#   word is a plain name (`task.in`), but a keyword cannot start a key path (`in == 1` fails).
# * Strings: '...' or "..." with backslash escapes; \n and \t are control characters and any
#   other escaped character stands for itself (\" \' \\). Numbers: digits with an optional
#   '.digits' and an optional leading '-' that touches the digits (`0800` is 800; `.5`, `1.`,
#   `1e3`, `2AND` and `- 1` are errors). Lists: [...] of strings, numbers, true/false/null; empty
#   allowed; no nesting, no keys, no trailing comma.
# * Keys: `[A-Za-z_$][A-Za-z0-9_$]*` then `.name` or `[n]`, written without spaces. A hyphen
#   touching a bare word (`front-desk`) is an error: quote the value. Limits that keep the
#   generated Python small: 50 levels of parentheses, 32 parts in a key path.
# * Errors carry the 0-based offset of the problem: the offending character or token, the opening
#   quote of an unterminated string, the unmatched bracket, or where a missing part was expected
#   (just after the last token).
#
# Semantics (reference implementation: evaluate.py, "Reference semantics")
# * A missing key, an index out of range or a step into a non-container is null.
# * ==/!=: false for both when either side is an array. null equals only null; booleans only
#   booleans (true != 1); a number equals a number of the same value or a string that spells it
#   ("06" == 6); two strings compare exactly ("06" != "6"); objects equal equal objects.
# * Ordering: numbers and numeric strings compare numerically (so "10" > "9"); two strings that
#   are not both numeric compare as text, case-sensitively; everything else (null, booleans,
#   arrays, objects, a number against a non-numeric string) is false.
# * CONTAINS: substring test on two strings, else false. HAS: array left, scalar right, some element
#   equal under ==. IN: scalar left, array right, some element equal. NOT IN: scalar left, array
#   right, no element equal; any other shapes make HAS, IN and NOT IN false.

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .evaluate import Matcher, compile_matcher
from .explain import Explanation, Failure, explain
from .lexer import ExpressionError
from .parser import Comparison, Key, Node, OrderClause, parse, parse_order_by

__all__ = [
    "Explanation",
    "Expression",
    "ExpressionError",
    "Failure",
    "KeyRef",
    "OrderClause",
    "compile_expression",
    "parse_order_by",
]


@dataclass(frozen=True)
class KeyRef:
    """One key path used in an expression: its parts, its text and its 0-based offset."""

    path: tuple[str | int, ...]
    text: str
    position: int


class Expression:
    """A compiled expression.

    `matches(doc)` is the generated function itself (no wrapper call on the hot path): it returns
    whether `doc` (a Mapping of JSON values) satisfies the expression, and never raises for JSON
    input (a document that is not an object has no keys). `explain(doc)` says why.
    `references` lists every key path in order of appearance.
    """

    __slots__ = ("_tree", "matches", "python_source", "references", "text")

    text: str
    matches: Matcher
    references: tuple[KeyRef, ...]
    python_source: str
    _tree: Node

    def __init__(self, text: str, tree: Node) -> None:
        self.text = text
        self._tree = tree
        self.references = tuple(_references(tree))
        self.matches, self.python_source = compile_matcher(tree)

    def explain(self, doc: Mapping[str, Any]) -> Explanation:
        """Evaluate against `doc` and report the false comparisons that decided a no-match.

        Always agrees with `matches(doc)`; slower, for tools and error messages.
        """
        return explain(self._tree, doc)

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


def compile_expression(text: str) -> Expression:
    """Parse and compile `text` once; raises ExpressionError (with `expression` set to `text`).

    Results are cached by text (LRU, 4096 entries), so the same text returns the same object.
    """
    return _compile_cached(text)


@functools.lru_cache(maxsize=4096)
def _compile_cached(text: str) -> Expression:
    try:
        tree = parse(text)
    except ExpressionError as error:
        raise ExpressionError(error.message, error.position, text) from None
    return Expression(text, tree)


def _references(node: Node) -> list[KeyRef]:
    if isinstance(node, Comparison):
        sides = (node.left, node.right)
        return [
            KeyRef(side.path, side.text, side.position) for side in sides if isinstance(side, Key)
        ]
    return [ref for item in node.items for ref in _references(item)]
