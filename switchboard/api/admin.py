"""Placeholder: being written."""

from starlette.requests import Request
from starlette.responses import Response


async def health(request: Request) -> Response:
    raise NotImplementedError


async def explain_worker(request: Request) -> Response:
    raise NotImplementedError
