"""GET /switchboard/metrics: this process's counters and the database's state gauges.

Two ways in, as the operator chooses: the bearer token given with `--metrics-token` (what a
Prometheus server is configured with) sees every workspace of the deployment; an account's
HTTP Basic credentials, as for the API, see that account's workspaces only.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from switchboard.errors import Unauthorized
from switchboard.metrics.counters import ProcessCounters
from switchboard.metrics.state import StateMetrics, TickReading
from switchboard.models import Clock
from switchboard.storage import Store


class MetricsEndpoint:
    """The route's handler; `authenticate` is the API's check of Basic credentials (the
    account SID, or Unauthorized), `tick` reads the deadline loop (None: no loop here)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        counters: ProcessCounters,
        *,
        authenticate: Callable[[Request], str],
        token: str | None,
        tick: Callable[[], TickReading | None],
    ) -> None:
        self.store = store
        self.clock = clock
        self.counters = counters
        self.authenticate = authenticate
        self.token = token
        self.tick = tick

    async def fetch_metrics(self, request: Request) -> Response:
        account_sid = self._account(request)
        store = self.store
        # The state is read through `Store.read`: a scrape reads a few rows per workspace,
        # on PostgreSQL that many round trips, which the event loop does not wait for.
        workspaces = list(await store.read(store.board.workspaces, account_sid))
        state = StateMetrics(store, workspaces, self.clock.now_ms(), self.tick())
        text = await store.read(state.text)
        # The counters' exposition and the state's: their metric names never overlap.
        body = generate_latest(self.counters.registry) + text.encode()
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    def _account(self, request: Request) -> str | None:
        """None for the metrics token (every workspace), else the Basic credentials' account."""
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            if self.token and secrets.compare_digest(credential.strip(), self.token):
                return None
            raise Unauthorized("Authenticate: the bearer token is not the metrics token")
        return self.authenticate(request)
