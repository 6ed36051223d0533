"""Placeholder: being written."""

from starlette.requests import Request
from starlette.responses import Response


async def list_worker(request: Request) -> Response:
    raise NotImplementedError


async def create_worker(request: Request) -> Response:
    raise NotImplementedError


async def fetch_worker(request: Request) -> Response:
    raise NotImplementedError


async def update_worker(request: Request) -> Response:
    raise NotImplementedError


async def delete_worker(request: Request) -> Response:
    raise NotImplementedError
