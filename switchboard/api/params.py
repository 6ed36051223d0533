"""Twilio request conventions: form bodies and query strings with PascalCase keys.

Every parameter is read through `Params`, which names the parameter in each error it raises.
Repeated keys are kept (lists are sent that way); a single-valued parameter given twice is an
error, which is also what a Python caller who passes a dict instead of a JSON string produces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any, TypeAlias
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request

from switchboard.errors import InvalidParameter
from switchboard.models import Prefix, is_sid

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
# JSON documents (attributes, configurations, filters) nest at most this deep. Real documents
# nest a handful of levels; without a bound, 2,000 levels fit in 4,096 characters and exhaust
# the recursion of every parser and walker after json.loads.
MAX_JSON_DEPTH = 64
# Every whole number fits a signed 64-bit column, whatever its parameter's own range.
MAX_INT = 2**63 - 1
# The end of year 9999: the last moment a date parameter can name, and so the last one the
# manual clock may be moved to.
MAX_DATE_MS = 253_402_300_799_999
# A JSON string, whose brackets do not nest. Unterminated, it runs to the end of the text, so
# one scan stays linear however the quotes are escaped.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?')
_JSON_BRACKET = re.compile(r"[\[\]{}]")
_NESTING = {"[": 1, "{": 1, "]": -1, "}": -1}


# Params has methods named str, int and bool; inside the class those names mean the methods,
# so the annotations of the methods defined after them use these aliases of the builtins.
_Str: TypeAlias = str
_Int: TypeAlias = int
_Bool: TypeAlias = bool


class Params:
    """The parameters of one request, read by their Twilio names."""

    __slots__ = ("_values",)

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        values: dict[str, list[str]] = {}
        for key, value in pairs:
            values.setdefault(key, []).append(value)
        self._values = values

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def names(self) -> list[str]:
        return list(self._values)

    def items(self) -> list[tuple[str, str]]:
        return [(k, v) for k, vs in self._values.items() for v in vs]

    def list(self, name: str) -> list[str]:
        return list(self._values.get(name, ()))

    def str(
        self, name: str, *, required: bool = False, max_length: int | None = None
    ) -> str | None:
        values = self._values.get(name)
        if not values:
            if required:
                raise InvalidParameter(f"Missing required parameter {name} in the post body")
            return None
        if len(values) > 1:
            raise InvalidParameter(
                f"{name} was given {len(values)} times; it takes one value"
                " (pass JSON documents as a string, e.g. json.dumps(...))"
            )
        value = values[0]
        if max_length is not None and len(value) > max_length:
            raise InvalidParameter(
                f"{name} is {len(value)} characters long; at most {max_length} are allowed"
            )
        return value

    def required(self, name: _Str, *, max_length: _Int | None = None) -> _Str:
        value = self.str(name, required=True, max_length=max_length)
        assert value is not None
        if not value.strip():
            raise InvalidParameter(f"{name} must not be empty")
        return value

    def bool(self, name: _Str, *, lenient: _Bool = False) -> _Bool | None:
        """true/1/yes and false/0/no in any case. `lenient`: anything else is false, as Twilio
        documents for string-typed flags such as the `Available` list filter."""
        value = self.str(name)
        if value is None:
            return None
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lenient or lowered in _FALSE:
            return False
        raise InvalidParameter(f"{name} must be true or false, not {value!r}")

    def int(
        self, name: _Str, *, minimum: _Int | None = None, maximum: _Int | None = None
    ) -> _Int | None:
        value = self.str(name)
        if value is None:
            return None
        try:
            number = int(value.strip())
        except ValueError:
            raise InvalidParameter(f"{name} must be a whole number, not {_short(value)}") from None
        if abs(number) > MAX_INT:
            raise InvalidParameter(f"{name} is out of range: {_short(value)}")
        if minimum is not None and number < minimum:
            raise InvalidParameter(f"{name} must be at least {minimum}, not {number}")
        if maximum is not None and number > maximum:
            raise InvalidParameter(f"{name} must be at most {maximum}, not {number}")
        return number

    def sid(self, name: _Str, prefix: Prefix, *, required: _Bool = False) -> _Str | None:
        value = self.str(name, required=required)
        if value is None:
            return None
        check_sid(value, prefix, name)
        return value

    def url(self, name: _Str) -> _Str | None:
        """An absolute http or https URL. An empty value is returned as given: for callback
        URLs it means "no callback"."""
        value = self.str(name)
        if value:
            check_url(value, name)
        return value

    def choice(self, name: _Str, choices: Iterable[_Str]) -> _Str | None:
        value = self.str(name)
        allowed = list(choices)
        if value is not None and value not in allowed:
            raise InvalidParameter(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        return value

    def json_object(self, name: _Str, *, max_chars: _Int) -> _Str | None:
        """A JSON object given as a string; returned as the text the client sent."""
        value = self.str(name)
        if value is None:
            return None
        if len(value) > max_chars:
            raise InvalidParameter(
                f"{name} is {len(value)} characters long; at most {max_chars} are allowed"
            )
        document = parse_json(value, name)
        if not isinstance(document, dict):
            raise InvalidParameter(f"{name} must be a JSON object, not {type_name(document)}")
        return value

    def datetime_ms(self, name: _Str) -> _Int | None:
        """A date in Twilio's ISO 8601 form (YYYY-MM-DDTHH:MM:SSZ, or with an offset)."""
        value = self.str(name)
        if value is None:
            return None
        return parse_datetime_ms(value, name)


def parse_ordering(
    text: str | None, columns: Mapping[str, str], *, example: str
) -> list[tuple[str, bool]]:
    """An `Ordering` value: `Field[:asc|:desc]`, comma-chained, names and directions
    case-sensitive, no field twice, ascending by default. Returns (column, descending) pairs
    from `columns` (field name → column); empty when the value is absent."""
    if text is None:
        return []
    order: list[tuple[str, bool]] = []
    for part in text.split(","):
        name, _, direction = part.strip().partition(":")
        column = columns.get(name)
        direction = direction or "asc"
        if column is None or direction not in ("asc", "desc"):
            raise InvalidParameter(
                f"Ordering {part.strip()!r} is not valid: use {', '.join(columns)},"
                " each optionally followed by :asc or :desc, joined by commas"
                f" (e.g. {example})"
            )
        if any(column == seen for seen, _ in order):
            raise InvalidParameter(f"Ordering names {name} more than once")
        order.append((column, direction == "desc"))
    return order


def parse_json(text: str | bytes, name: str) -> Any:
    """A JSON document that nests at most MAX_JSON_DEPTH deep, or a 400 naming `name`."""
    check_json_depth(text, name)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidParameter(
            f"{name} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    # ValueError: bytes that are not UTF-8. RecursionError cannot follow the depth check, but
    # should a parser ever recurse deeper than it, the answer must still not be a 500.
    except (ValueError, RecursionError):
        raise InvalidParameter(f"{name} is not valid JSON") from None


def check_json_depth(text: str | bytes, name: str) -> None:
    """Refuse a document whose arrays and objects nest deeper than MAX_JSON_DEPTH, before any
    recursive parser sees it. Counts brackets outside strings; text that is not JSON at all
    is left for the parser to refuse."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    outside = _JSON_STRING.sub("", text)
    if outside.count("[") + outside.count("{") <= MAX_JSON_DEPTH:
        return
    steps = map(_NESTING.__getitem__, _JSON_BRACKET.findall(outside))
    depth = max(accumulate(steps), default=0)
    if depth > MAX_JSON_DEPTH:
        raise InvalidParameter(
            f"{name} nests arrays and objects {depth} levels deep; at most {MAX_JSON_DEPTH}"
            " are allowed"
        )


def check_url(value: str, name: str) -> None:
    """An absolute http or https URL with a host, or a 400 naming `name`."""
    try:
        parsed = urlsplit(value)
        valid = parsed.scheme in ("http", "https") and bool(parsed.hostname)
        _ = parsed.port  # a port that is not a number from 0 to 65535 raises here
    except ValueError:
        valid = False
    if not valid:
        raise InvalidParameter(f"{name} must be an absolute http or https URL, not {_short(value)}")


def _short(value: str) -> str:
    """A value quoted for an error message, cut so a huge one does not make a huge answer."""
    return repr(value) if len(value) <= 100 else repr(value[:97] + "...")


def type_name(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if isinstance(value, float) else "a value")


def parse_datetime_ms(value: str, name: str) -> int:
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        # Kept in the except's reach: a platform whose time_t is narrow overflows here.
        ms = int(moment.timestamp() * 1000)
    except (ValueError, OverflowError):
        raise InvalidParameter(
            f"{name} must be a date like 2024-05-01T12:00:00Z, not {_short(value)}"
        ) from None
    return ms


def check_sid(value: str, prefix: Prefix, name: str) -> None:
    if not is_sid(value, prefix):
        raise InvalidParameter(
            f"{name} must be a {prefix.value} SID ({prefix.value} and 32 hex digits),"
            f" not {value!r}",
            code=20001,
        )


def _pairs(text: str, source: str) -> list[tuple[str, str]]:
    # Strict: by default a percent-encoded byte that is not UTF-8 (%FF) silently becomes U+FFFD.
    try:
        return parse_qsl(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise InvalidParameter(f"The {source} is not valid UTF-8") from None


def _query(request: Request) -> str:
    """The raw query string (`request.url` would build and parse the whole URL for it)."""
    raw: bytes = request.scope.get("query_string", b"")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidParameter("The query string is not valid UTF-8") from None


def query_params(request: Request) -> Params:
    return Params(_pairs(_query(request), "query string"))


async def form_params(request: Request) -> Params:
    """The form body of a POST, plus any query parameters (body values come last)."""
    body = await request.body()
    query = _query(request)
    pairs = _pairs(query, "query string") if query else []
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidParameter("The request body is not valid UTF-8") from None
        pairs += _pairs(text, "request body")
    return Params(pairs)
