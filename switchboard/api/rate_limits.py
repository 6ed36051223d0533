"""Twilio's documented rate limits, enforced when the server runs with `--limits twilio`.

TaskRouter allows 3 requests a second per account on each list filter that evaluates an
expression (Tasks?EvaluateTaskAttributes, Workers?TargetWorkersExpression,
TaskQueues?EvaluateWorkerAttributes) and 5 on bulk queue statistics; beyond that it answers 429
with code 20429. Each limit is a token bucket per account: it holds one second's worth of
requests and refills continuously, so a steady caller at the documented rate is never refused.
Every process keeps its own buckets (the limits are a check that an app stays within Twilio's,
not a defence), so N processes behind a balancer allow N times the rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from switchboard.errors import TooManyRequests

# Operation name → requests per second (behaviour.md §9).
TWILIO_RATES = {
    "EvaluateTaskAttributes": 3.0,
    "TargetWorkersExpression": 3.0,
    "EvaluateWorkerAttributes": 3.0,
    "TaskQueuesRealTimeStatistics": 5.0,
}


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimits:
    """`check(account, name)` spends one request of the account's allowance for `name`, or
    raises a 429. With no rates (the default, local limits) every check passes."""

    def __init__(
        self, rates: dict[str, float] | None = None, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.rates = rates or {}
        self.now = now
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def check(self, account_sid: str, name: str) -> None:
        rate = self.rates.get(name)
        if rate is None:
            return
        now = self.now()
        bucket = self._buckets.setdefault((account_sid, name), _Bucket(rate, now))
        bucket.tokens = min(rate, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        # The tolerance keeps a caller at exactly the rate (1/3 s apart) from losing a request
        # to rounding.
        if bucket.tokens < 1 - 1e-9:
            raise TooManyRequests(
                f"Too many requests: {name} allows {rate:g} requests per second per account"
                " (Twilio's limit, enforced with --limits twilio)"
            )
        bucket.tokens -= 1


def rate_limits_for(kind: str) -> RateLimits:
    return RateLimits(TWILIO_RATES if kind == "twilio" else None)
