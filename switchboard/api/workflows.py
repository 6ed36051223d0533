"""Placeholder: being written."""

from starlette.requests import Request
from starlette.responses import Response


async def list_workflow(request: Request) -> Response:
    raise NotImplementedError


async def create_workflow(request: Request) -> Response:
    raise NotImplementedError


async def fetch_workflow(request: Request) -> Response:
    raise NotImplementedError


async def update_workflow(request: Request) -> Response:
    raise NotImplementedError


async def delete_workflow(request: Request) -> Response:
    raise NotImplementedError
