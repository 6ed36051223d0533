"""ASGI middleware: an unexpected exception becomes a logged 500 in Twilio's error shape, and
the connection stays open.

Starlette's own last-resort handler sends its 500 and then re-raises, so that servers can log
the error; uvicorn, seeing an exception after the response started, closes the connection, and a
pooled client's next request on it fails with "connection reset by peer". Here the exception
ends with the 500: it is logged once, and nothing propagates to the server.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard.api import render
from switchboard.errors import InternalError

log = logging.getLogger("switchboard")


class AnswerUnexpected:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def noting_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, noting_start)
        except Exception:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                # Half a response cannot be mended: only closing the connection ends it.
                raise
            error = InternalError("An internal error occurred; it has been logged")
            await render.json_response(error.to_dict(), error.status)(scope, receive, send)
