"""A bare Starlette app serving a canned, Worker-sized JSON body: the ceiling the Worker fetch
is compared with. Run: python -m bench.baseline_app --port N [--log-level warning]
"""

from __future__ import annotations

import argparse
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BASE = "http://127.0.0.1:8080/v1/Workspaces/WS00000000000000000000000000000000"
WORKER_URL = f"{BASE}/Workers/WK00000000000000000000000000000000"
ATTRIBUTES = (
    '{"employee_id":"E000042","skills":["billing","support","vip"],"languages":["en","es"],'
    '"primary_language":"en","level":3,"team":"support","tier":"gold","title":"Senior Agent",'
    '"location":{"country":"US","city":"Boston","site":"boston-2"},'
    '"routing":{"skills":["billing","support"],"levels":{"billing":4,"support":3,"vip":2}},'
    '"channels":{"voice":{"capacity":1,"enabled":true},"chat":{"capacity":3,"enabled":true}},'
    '"contact_uri":"client:agent42"}'
)
# The same fields and sizes as a rendered Worker (switchboard.api.render.worker).
WORKER: dict[str, Any] = {
    "account_sid": "AC00000000000000000000000000000000",
    "activity_name": "Available",
    "activity_sid": "WA00000000000000000000000000000000",
    "attributes": ATTRIBUTES,
    "available": True,
    "date_created": "2026-01-01T00:00:00Z",
    "date_status_changed": "2026-01-01T00:00:00Z",
    "date_updated": "2026-01-01T00:00:00Z",
    "friendly_name": "agent-00042",
    "sid": "WK00000000000000000000000000000000",
    "workspace_sid": "WS00000000000000000000000000000000",
    "url": WORKER_URL,
    "links": {
        "channels": f"{WORKER_URL}/Channels",
        "activity": f"{BASE}/Activities/WA00000000000000000000000000000000",
        "workspace": BASE,
        "statistics": f"{BASE}/Workers/Statistics",
        "real_time_statistics": f"{BASE}/Workers/RealTimeStatistics",
        "cumulative_statistics": f"{BASE}/Workers/CumulativeStatistics",
        "worker_statistics": f"{WORKER_URL}/Statistics",
        "worker_channels": f"{WORKER_URL}/Channels",
        "reservations": f"{WORKER_URL}/Reservations",
    },
}


async def fetch_worker(request: Request) -> Response:
    return JSONResponse(WORKER)


# The same path shape as the real route, so routing costs the same.
app = Starlette(
    routes=[Route("/v1/Workspaces/{workspace_sid}/Workers/{sid}", fetch_worker, methods=["GET"])]
)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    # Exactly what `switchboard serve` passes: uvicorn picks httptools and uvloop itself.
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
