"""The Twilio SDK's HTTP client, served by a Switchboard in process.

The request is encoded as the SDK's own client (`requests`) would encode it: the query and
the form with repeated keys for lists, HTTP Basic credentials, the SDK's headers; and the
reply is the SDK's Response. Only the transport differs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from twilio.http import AsyncHttpClient, HttpClient
from twilio.http.response import Response

from switchboard.testing.asgi import Reply, Request

Serve = Callable[[Request], Reply]

log = logging.getLogger("switchboard.testing")


def encode_form(values: Mapping[str, Any] | None) -> str:
    """`requests`' encoding of params and form data: lists as repeated keys, None left out."""
    if not values:
        return ""
    pairs: list[tuple[str, Any]] = []
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            pairs += [(key, item) for item in value if item is not None]
        else:
            pairs.append((key, value))
    return urlencode(pairs)


def basic_auth(auth: tuple[str, str]) -> str:
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
    return f"Basic {token}"


def prepare(
    method: str,
    url: str,
    params: Mapping[str, Any] | None,
    data: Mapping[str, Any] | None,
    headers: Mapping[str, str] | None,
    auth: tuple[str, str] | None,
) -> Request:
    """The SDK's request, encoded as its own HTTP client would send it."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, encode_form(params)) if q)
    sent = dict(headers or {})
    if sent.get("Content-Type", "").startswith("application/json"):
        body = json.dumps(data or {}).encode()
    else:
        body = encode_form(data).encode()
    if auth is not None and auth[0] is not None and auth[1] is not None:
        sent["Authorization"] = basic_auth(auth)
    return Request(
        method.upper(),
        parts.scheme or "https",
        parts.netloc,
        parts.path or "/",
        query,
        list(sent.items()),
        body,
    )


def sdk_response(client: HttpClient, reply: Reply) -> Response:
    """The reply as the SDK's Response, kept where the SDK's own clients keep their last
    one (`client.last_response` reads it)."""
    response = Response(reply.status, reply.text, dict(reply.headers))
    client._test_only_last_response = response
    return response


class InProcessHttpClient(HttpClient):  # type: ignore[misc]  # the SDK is untyped
    """A `twilio.http.HttpClient` whose requests `serve` answers."""

    def __init__(self, serve: Serve) -> None:
        super().__init__(logger=log, is_async=False)
        self._serve = serve

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        return sdk_response(self, self._serve(prepare(method, uri, params, data, headers, auth)))


class AsyncInProcessHttpClient(AsyncHttpClient):  # type: ignore[misc]  # the SDK is untyped
    """The same for the SDK's async calls (`create_async` …): the request is served from a
    worker thread, so the caller's event loop goes on meanwhile, as it would over a socket."""

    def __init__(self, serve: Serve) -> None:
        super().__init__(logger=log, is_async=True)
        self._serve = serve

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        prepared = prepare(method, uri, params, data, headers, auth)
        return sdk_response(self, await asyncio.to_thread(self._serve, prepared))
