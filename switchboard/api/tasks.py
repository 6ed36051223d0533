"""Placeholder: being written."""

from starlette.requests import Request
from starlette.responses import Response


async def list_task(request: Request) -> Response:
    raise NotImplementedError


async def create_task(request: Request) -> Response:
    raise NotImplementedError


async def fetch_task(request: Request) -> Response:
    raise NotImplementedError


async def update_task(request: Request) -> Response:
    raise NotImplementedError


async def delete_task(request: Request) -> Response:
    raise NotImplementedError
