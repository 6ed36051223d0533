"""Request counts, latency and database time per operation, noted as each request ends.

Requests are keyed by the name of the route that served them (Twilio's operation name, such
as `create_task`), never by the raw path: a path carries SIDs, and a label per SID would grow
without bound. A request no route matched counts as `unmatched`; one whose answer never
started counts as a 500.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

from switchboard.metrics.counters import ProcessCounters

# What an answer that never started counts as.
NEVER_STARTED = 500


def operation_of(scope: MutableMapping[str, Any]) -> str:
    """The route that served the request (the router puts it in the scope)."""
    return getattr(scope.get("route"), "name", None) or "unmatched"


def observe_request(
    counters: ProcessCounters,
    scope: MutableMapping[str, Any],
    status: int,
    started: float,
    database: list[float],
) -> None:
    """Count one request, its time since `started` (a `time.perf_counter()` reading) and the
    database time its `ProcessCounters.start_request` box added up."""
    counters.observe_request(
        operation_of(scope), scope["method"], status, time.perf_counter() - started, database[0]
    )
