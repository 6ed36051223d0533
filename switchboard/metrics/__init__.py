"""Prometheus metrics at /switchboard/metrics.

- counters.py: what this process counts as it runs, from each committed write's events
  (reservations created and ended, create → reservation latency) and from every request
  (counts and latency per operation, noted by `requests.observe_request`).
- state.py: what the database says now, read at scrape time (tasks per queue and status,
  longest wait, workers per activity, open reservations, callback backlogs), so every process
  sharing one PostgreSQL database reports the same figures.
- endpoint.py: the route, its two ways in (an account's Basic credentials, or the bearer
  token of `--metrics-token`) and the exposition.
"""

from switchboard.metrics.counters import PROCESS, ProcessCounters
from switchboard.metrics.endpoint import MetricsEndpoint
from switchboard.metrics.requests import observe_request
from switchboard.metrics.state import StateMetrics, TickReading

__all__ = [
    "PROCESS",
    "MetricsEndpoint",
    "ProcessCounters",
    "StateMetrics",
    "TickReading",
    "observe_request",
]
