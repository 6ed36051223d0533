"""Calling Switchboard's own REST API in process, as an account.

The gateway executes what the SDK asks through the very handlers the REST API serves, so every
operation, validation and error is the REST API's own; it goes through the whole application
(middleware included, so an answer comes only once its change is committed) without a socket.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.types import ASGIApp, Message, Scope

from switchboard.storage import Store

# A value in the SDK's JSON params, as a form field: JSON documents as their text,
# booleans as the REST API spells them.
Params = Mapping[str, Any]


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def message(self) -> str:
        if isinstance(self.body, dict) and isinstance(self.body.get("message"), str):
            return str(self.body["message"])
        return f"the request failed with status {self.status}"


def form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def form(params: Params) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, list) and key not in ("Attributes",):
            pairs += [(key, form_value(v)) for v in value]
        else:
            pairs.append((key, form_value(value)))
    return pairs


class InProcess:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._app: ASGIApp | None = None
        self._auth: dict[str, bytes] = {}

    def attach(self, app: ASGIApp) -> None:
        """The application to call (built after this object, which its routes hold)."""
        self._app = app

    async def call(
        self,
        account_sid: str,
        method: str,
        path: str,
        params: Params,
        *,
        if_match: str | None = None,
    ) -> Answer:
        """`method` on `/v1/{path}` with `params` (query for GET, form body otherwise), and
        the REST API's own precondition when `if_match` is given."""
        if self._app is None:
            raise RuntimeError("InProcess.attach was not called")
        encoded = urlencode(form(params)).encode("ascii")
        get = method == "GET"
        headers = [
            (b"host", b"switchboard.internal"),
            (b"authorization", self._authorization(account_sid)),
        ]
        if not get:
            headers.append((b"content-type", b"application/x-www-form-urlencoded"))
        if if_match:
            headers.append((b"if-match", if_match.encode("latin-1")))
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": f"/v1/{path}",
            "raw_path": f"/v1/{path}".encode(),
            "root_path": "",
            "query_string": encoded if get else b"",
            "headers": headers,
            "client": ("127.0.0.1", 0),
            "server": ("switchboard.internal", 80),
        }
        body = b"" if get else encoded
        sent_body = False
        status = 500
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal sent_body
            if sent_body:
                return {"type": "http.disconnect"}
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self._app(scope, receive, send)
        if status == 401:
            # The account's auth token changed since it was remembered.
            self._auth.pop(account_sid, None)
        raw = b"".join(chunks)
        return Answer(status, json.loads(raw) if raw else None)

    def _authorization(self, account_sid: str) -> bytes:
        cached = self._auth.get(account_sid)
        if cached is None:
            account = self._store.get_account(account_sid)
            token = account.auth_token if account is not None else ""
            credentials = base64.b64encode(f"{account_sid}:{token}".encode()).decode()
            cached = self._auth[account_sid] = f"Basic {credentials}".encode()
        return cached
