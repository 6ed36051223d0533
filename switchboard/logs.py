"""Logging: a request id on every line, and the `--log-format json` formatter.

Each HTTP request gets an id, the caller's own `X-Request-Id` when it sends a usable one (so a
proxy's or a client's id follows the request through), else a new one; it is echoed in the
response's `X-Request-Id` header and carried by a context variable into every log line the
request causes, uvicorn's access line included. Lines logged outside a request (the tick loop,
the callback senders) carry none. Standard library only: both the app and the command line
use it.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import IO, Any

REQUEST_ID_HEADER = "x-request-id"
_HEADER_BYTES = REQUEST_ID_HEADER.encode()
# An incoming id is kept only when it is short and plain: it is written into every log line
# and a response header, so nothing that could forge a line or a header gets through.
_USABLE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

request_id: ContextVar[str | None] = ContextVar("switchboard_request_id", default=None)

# ASGI's scope and messages, without importing a web framework (see the docstring).
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


def incoming_id(scope: Scope) -> str:
    """The request's own X-Request-Id when usable, else a new random one (32 hex digits)."""
    for name, value in scope["headers"]:
        if name == _HEADER_BYTES:
            text: str = bytes(value).decode("latin-1").strip()
            if _USABLE_ID.fullmatch(text):
                return text
            break
    # An id needs to be unique, not unguessable: the interpreter's generator costs no system
    # call, where the operating system's randomness took a measurable share of a request.
    return f"{random.getrandbits(128):032x}"


def with_request_id(start: Message, rid: str) -> None:
    """Add the X-Request-Id header to a response's `http.response.start` message."""
    start["headers"] = [*start.get("headers", ()), (_HEADER_BYTES, rid.encode("latin-1"))]


class RequestIdFilter(logging.Filter):
    """Gives every record a `request_id` attribute (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


# LogRecord's own attributes: anything else on a record came through `extra=` and is logged
# (but uvicorn's copy of its message with terminal colour codes).
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601 with milliseconds), level, logger,
    message, request_id, the fields given with `extra=`, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line: dict[str, Any] = {
            "time": f"{moment}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in line:
                line[key] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def handler(log_format: str, stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing to `stream` (stderr by default) in the chosen format, stamping
    request ids."""
    out = logging.StreamHandler(stream)
    out.addFilter(RequestIdFilter())
    out.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    return out


def configure(log_format: str, level: str) -> None:
    """Send switchboard's and uvicorn's lines through one handler in the chosen format."""
    out = handler(log_format)
    for name in ("switchboard", "uvicorn", "uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [out]
        logger.setLevel(level.upper())
        logger.propagate = False
