"""Compact JSON encoding for the hot paths: response bodies and event data.

Every response and every event's data is encoded once, and a burst of reservation timeouts
writes twenty thousand events; orjson encodes several times faster than the standard library.
What orjson refuses (integers beyond 64 bits, keys that are not strings) falls back to the
standard encoder with the same compact separators, so the output is always valid JSON.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_fallback = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dumps_bytes(value: Any) -> bytes:
    """UTF-8 JSON, no spaces."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _fallback(value).encode("utf-8")


def dumps(value: Any) -> str:
    """The same, as text."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:
        return _fallback(value)
