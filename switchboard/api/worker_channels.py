"""Placeholder: being written."""

from starlette.requests import Request
from starlette.responses import Response


async def list_worker_channel(request: Request) -> Response:
    raise NotImplementedError


async def fetch_worker_channel(request: Request) -> Response:
    raise NotImplementedError


async def update_worker_channel(request: Request) -> Response:
    raise NotImplementedError
