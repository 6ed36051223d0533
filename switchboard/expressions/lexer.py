"""Tokenizer for TaskRouter expressions: turns text into tokens that carry their source offsets.

Also defines ExpressionError, the one error every stage raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Words that are keywords when they stand alone or start a path. After a dot every word is a name,
# so `task.in` and `worker.and` are ordinary keys.
KEYWORDS = frozenset({"AND", "OR", "IN", "NOT", "HAS", "CONTAINS", "TRUE", "FALSE", "NULL"})
_CONSTANTS: dict[str, Any] = {"TRUE": True, "FALSE": False, "NULL": None}

_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_$")
_DIGITS = frozenset("0123456789")
_NAME_CHARS = _NAME_START | _DIGITS
_PUNCTUATION = frozenset("()[],")
_ESCAPES = {"n": "\n", "t": "\t"}
_HINTS = {"&": " (use AND)", "|": " (use OR)", "!": " (use != or NOT IN)"}
HYPHEN_MESSAGE = "hyphens are not allowed in names; quote the value"
# Each path part nests one level in the generated Python, whose parser allows about 200.
MAX_PATH_PARTS = 32
# Room for the parser's 3,000 comparisons or a list of thousands of values; the lexer reads the
# whole text before the parser counts anything, so a 4 MiB expression is refused unread.
MAX_EXPRESSION_CHARS = 65_536


class ExpressionError(ValueError):
    """A syntax error in an expression: what is wrong and the 0-based offset where it is."""

    def __init__(self, message: str, position: int, expression: str = "") -> None:
        super().__init__(message, position, expression)
        self.message = message
        self.position = position
        self.expression = expression

    def __str__(self) -> str:
        return f"{self.message} at column {self.position + 1}"


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token.

    kind is one of: "string", "number", "constant" (true/false/null), "name" (a key path; value
    is the path tuple), "keyword" (value is the upper-case word), "operator" (value is the
    canonical operator), "(", ")", "[", "]", ",", "eof".
    """

    kind: str
    value: Any
    position: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens ending with an "eof" token; raises ExpressionError.

    The "eof" token sits right after the last real token, so "expected ..." errors at the end of
    the text point just past what was written rather than at trailing whitespace.
    """
    tokens: list[Token] = []
    pos, size = 0, len(text)
    if size > MAX_EXPRESSION_CHARS:
        message = f"expression is {size} characters long (limit {MAX_EXPRESSION_CHARS})"
        raise ExpressionError(message, MAX_EXPRESSION_CHARS)
    while pos < size:
        char = text[pos]
        if char.isspace():
            pos += 1
            continue
        if char in _PUNCTUATION:
            token = Token(char, char, pos, pos + 1)
        elif char in "\"'":
            token = _string(text, pos)
        elif char in _DIGITS:
            token = _number(text, pos, pos)
        elif char == "-":
            token = _minus(text, pos)
        elif char in _NAME_START:
            token = _name(text, pos)
        elif char in "=!<>":
            token = _operator(text, pos)
        else:
            raise ExpressionError(f"unexpected character {char!r}{_HINTS.get(char, '')}", pos)
        tokens.append(token)
        pos = token.end
    end = tokens[-1].end if tokens else 0
    tokens.append(Token("eof", None, end, end))
    return tokens


def _operator(text: str, pos: int) -> Token:
    pair = text[pos : pos + 2]
    # `>-` and `<-` are read greedily, exactly as Twilio's aliases are written: `level>-1` is
    # `level HAS 1`. Write `level > -1` (with a space) to compare with a negative number.
    canonical = {"==": "==", "!=": "!=", ">=": ">=", "<=": "<=", ">-": "HAS", "<-": "IN"}
    if pair in canonical:
        return Token("operator", canonical[pair], pos, pos + 2)
    char = text[pos]
    if char == "!":
        raise ExpressionError(f"unexpected character '!'{_HINTS['!']}", pos)
    return Token("operator", "==" if char == "=" else char, pos, pos + 1)


def _string(text: str, start: int) -> Token:
    quote = text[start]
    pos = start + 1
    chars: list[str] = []
    while pos < len(text):
        char = text[pos]
        if char == quote:
            return Token("string", "".join(chars), start, pos + 1)
        if char == "\\":
            pos += 1
            if pos == len(text):
                break
            # \n and \t are control characters; any other escaped character stands for itself,
            # which covers \" \' and \\.
            chars.append(_ESCAPES.get(text[pos], text[pos]))
        else:
            chars.append(char)
        pos += 1
    raise ExpressionError("unterminated string", start)


def _minus(text: str, pos: int) -> Token:
    if pos + 1 < len(text) and text[pos + 1] in _DIGITS:
        return _number(text, pos, pos + 1)
    raise ExpressionError("unexpected character '-' (a minus sign must be followed by digits)", pos)


def _number(text: str, start: int, digits_start: int) -> Token:
    pos = _skip_digits(text, digits_start)
    is_decimal = pos < len(text) and text[pos] == "."
    if is_decimal:
        if pos + 1 >= len(text) or text[pos + 1] not in _DIGITS:
            raise ExpressionError("expected a digit after '.'", pos + 1)
        pos = _skip_digits(text, pos + 1)
    if pos < len(text) and (text[pos] in _NAME_CHARS or text[pos] == "."):
        stop = pos
        while stop < len(text) and (text[stop] in _NAME_CHARS or text[stop] == "."):
            stop += 1
        raise ExpressionError(f"invalid number {text[start:stop]!r}", start)
    if pos < len(text) and text[pos] == "-":
        raise ExpressionError("unexpected '-' after a number", pos)
    literal = text[start:pos]
    if is_decimal:
        value: int | float = float(literal)
        if not math.isfinite(value):
            raise ExpressionError("number is out of range", start)
    else:
        value = _integer(literal, start)
    return Token("number", value, start, pos)


def _integer(literal: str, position: int) -> int:
    try:
        return int(literal)
    except ValueError:  # more digits than sys.get_int_max_str_digits() allows
        raise ExpressionError("number is out of range", position) from None


def _skip_digits(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _DIGITS:
        pos += 1
    return pos


def _name(text: str, start: int) -> Token:
    pos = _skip_name(text, start)
    word = text[start:pos].upper()
    if word in KEYWORDS:
        if pos < len(text) and text[pos] == "-":
            raise ExpressionError(HYPHEN_MESSAGE, pos)
        if word in _CONSTANTS:
            return Token("constant", _CONSTANTS[word], start, pos)
        return Token("keyword", word, start, pos)
    path: list[str | int] = [text[start:pos]]
    while pos < len(text):
        char = text[pos]
        if char == ".":
            if pos + 1 >= len(text) or text[pos + 1] not in _NAME_START:
                raise ExpressionError("expected a name after '.'", pos + 1)
            end = _skip_name(text, pos + 1)
            path.append(text[pos + 1 : end])
            pos = end
        elif char == "[":
            index_end = _skip_digits(text, pos + 1)
            if index_end == pos + 1:
                raise ExpressionError("expected an array index (0, 1, ...) after '['", pos + 1)
            if index_end >= len(text) or text[index_end] != "]":
                raise ExpressionError("expected ']' after the array index", index_end)
            path.append(_integer(text[pos + 1 : index_end], pos + 1))
            pos = index_end + 1
        elif char == "-":
            raise ExpressionError(HYPHEN_MESSAGE, pos)
        else:
            break
    if len(path) > MAX_PATH_PARTS:
        raise ExpressionError(f"key path is too long (limit {MAX_PATH_PARTS} parts)", start)
    return Token("name", tuple(path), start, pos)


def _skip_name(text: str, pos: int) -> int:
    pos += 1
    while pos < len(text) and text[pos] in _NAME_CHARS:
        pos += 1
    return pos


def path_text(path: tuple[str | int, ...]) -> str:
    """Render a key path the way it is written: ("a", "b", 2) -> "a.b[2]"."""
    parts: list[str] = []
    for segment in path:
        if isinstance(segment, int):
            parts.append(f"[{segment}]")
        else:
            parts.append(f".{segment}" if parts else segment)
    return "".join(parts)
