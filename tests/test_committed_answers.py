"""Which answers wait for the open group of writes (api/committed.py, middleware.py): an
answer made of committed rows only goes out at once; any other waits for the COMMIT, and
becomes its failure when it failed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from switchboard.api.committed import shows_committed_only
from switchboard.metrics import ProcessCounters
from switchboard.middleware import Frontline


class HeldGroup:
    """A store whose group of writes stays open until `commit` is called."""

    def __init__(self) -> None:
        self.waiting: list[Callable[[BaseException | None], None]] = []
        self.open = True

    @property
    def commit_pending(self) -> bool:
        return self.open

    def after_commit(self, callback: Callable[[BaseException | None], None]) -> None:
        if self.open:
            self.waiting.append(callback)
        else:
            callback(None)

    def commit(self, failure: BaseException | None = None) -> None:
        self.open = False
        for callback in self.waiting:
            callback(failure)


def app_over(group: HeldGroup) -> Starlette:
    async def from_the_pool(request: Request) -> Response:
        shows_committed_only(request.scope)  # as Call.read_answer does on PostgreSQL
        return JSONResponse({"read": "committed"})

    async def from_the_loop(request: Request) -> Response:
        return JSONResponse({"read": "maybe the open group"})

    return Starlette(
        routes=[Route("/pool", from_the_pool), Route("/loop", from_the_loop)],
        middleware=[
            Middleware(Frontline, store=group, counters=ProcessCounters(), max_body_bytes=1 << 20)
        ],
    )


async def _turns(n: int) -> None:
    """Let the event loop run everything that is ready, `n` times over."""
    for _ in range(n):
        await asyncio.sleep(0)


def served(group: HeldGroup, client: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    """Run `client` against the app over `group`, in process."""

    async def main() -> None:
        transport = httpx.ASGITransport(app=app_over(group))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            await client(http)

    asyncio.run(main())


def test_an_answer_of_committed_rows_does_not_wait_for_the_open_group() -> None:
    group = HeldGroup()

    async def client(http: httpx.AsyncClient) -> None:
        held = asyncio.create_task(http.get("/loop"))
        answered = await http.get("/pool")  # while the group is still open
        assert answered.status_code == 200 and answered.json() == {"read": "committed"}
        await _turns(50)
        assert not held.done()  # it may show the open group: it waits for the COMMIT
        group.commit()
        assert (await held).status_code == 200

    served(group, client)


def test_an_answer_that_waited_becomes_the_failure_of_the_commit() -> None:
    group = HeldGroup()

    async def client(http: httpx.AsyncClient) -> None:
        held = asyncio.create_task(http.get("/loop"))
        await _turns(50)
        group.commit(RuntimeError("the COMMIT failed"))
        failed = await held
        assert failed.status_code == 500
        assert "nothing of it was kept" in failed.json()["message"]
        assert (await http.get("/pool")).status_code == 200

    served(group, client)
