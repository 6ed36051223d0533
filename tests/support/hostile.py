"""Hostile input and the connection that carries it: values past what the API accepts (JSON
nested deeper than it reads, a malformed URL, a number past any column) and one raw keep-alive
connection that shows what the SDK's pool hides, whether the server closed the socket."""

from __future__ import annotations

import base64
import http.client
import json
from typing import Any
from urllib.parse import urlencode

from tests.support.constants import ACCOUNT_SID, AUTH_TOKEN

# 2,000 levels in 4,006 characters: under the 4,096-character limit of attributes.
DEEP_JSON = '{"a":' + "[" * 2000 + "]" * 2000 + "}"
BAD_URL = "http://[::1"
HUGE = "1" + "0" * 30
AUTHORIZATION = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()


class KeepAlive:
    """One HTTP/1.1 connection, reused for every request; fails a test the moment the server
    closes it."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.connect()
        self.sock = self.conn.sock

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": AUTHORIZATION}
        if form is not None:
            body = urlencode(form).encode()
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body or None, headers=headers)
        response = self.conn.getresponse()
        payload = response.read()
        assert response.getheader("connection", "").lower() != "close"
        assert self.conn.sock is self.sock, "the server closed the connection"
        return response.status, json.loads(payload) if payload else {}

    def close(self) -> None:
        self.conn.close()
