"""ASGI middleware: no response leaves before the writes it may show are committed.

With group commit (`Store.group_commits`) a write returns while its group's transaction is
still open; the group commits once the event loop has run everything else that was ready. A
response starts only after that commit, so a client is never told of, or shown, a change that
is not yet durable. Should the group's COMMIT fail, every response waiting for it becomes a 500
(a 503 when the database could not be used: a full disk, an I/O error) and nothing of the
group is kept.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard.asyncio_bridge import until_committed
from switchboard.errors import DatabaseUnavailable, InternalError, TwilioError
from switchboard.fastjson import dumps_bytes
from switchboard.storage import Store


class AnswerAfterCommit:
    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        failed = False

        async def send_when_committed(message: Message) -> None:
            nonlocal failed
            starting = message["type"] == "http.response.start"
            if starting and (failure := await until_committed(self.store)) is not None:
                failed = True
                await _send_failure(send, failure)
            if not failed:
                await send(message)

        await self.app(scope, receive, send_when_committed)


async def _send_failure(send: Send, failure: BaseException) -> None:
    error: TwilioError = InternalError("The change could not be saved; nothing of it was kept")
    headers = [(b"content-type", b"application/json; charset=utf-8")]
    if isinstance(failure, DatabaseUnavailable):
        error = failure
        headers.append((b"retry-after", str(failure.retry_after).encode()))
    body = dumps_bytes(error.to_dict())
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
