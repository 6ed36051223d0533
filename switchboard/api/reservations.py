"""Placeholder: being written."""

from starlette.requests import Request
from starlette.responses import Response


async def list_task_reservation(request: Request) -> Response:
    raise NotImplementedError


async def fetch_task_reservation(request: Request) -> Response:
    raise NotImplementedError


async def update_task_reservation(request: Request) -> Response:
    raise NotImplementedError


async def list_worker_reservation(request: Request) -> Response:
    raise NotImplementedError


async def fetch_worker_reservation(request: Request) -> Response:
    raise NotImplementedError


async def update_worker_reservation(request: Request) -> Response:
    raise NotImplementedError
