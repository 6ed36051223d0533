"""The official twilio SDK pointed at Switchboard: served in process or over a socket, and
the two readings of its answers many tests share (the error raised, the ETag returned), and
a document as its bulk calls take one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
import requests
from starlette.testclient import TestClient
from twilio.base.exceptions import TwilioRestException
from twilio.http import HttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client

from tests.support.constants import ACCOUNT_SID, AUTH_TOKEN


class InProcessHttpClient(HttpClient):
    """The SDK's requests, encoded exactly as `requests` would, served by the app in process."""

    def __init__(self, app: Any) -> None:
        super().__init__(logger=logging.getLogger("tests.sdk"), is_async=False)
        self.test_client = TestClient(
            app, base_url="http://testserver", raise_server_exceptions=True
        )

    def request(  # type: ignore[override]
        self,
        method: str,
        uri: str,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        auth: Any = None,
        timeout: Any = None,
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        kwargs: dict[str, Any] = {"params": params, "headers": headers, "auth": auth}
        if headers and headers.get("Content-Type") == "application/json":
            kwargs["json"] = data
        else:
            kwargs["data"] = data
        prepared = requests.Request(method.upper(), uri, **kwargs).prepare()
        body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
        response = self.test_client.request(
            prepared.method or method, prepared.url or uri,
            content=body, headers=dict(prepared.headers),
        )  # fmt: skip
        return TwilioResponse(response.status_code, response.text, response.headers)


def sdk_client(http_client: HttpClient | None, base_url: str, sid: str = ACCOUNT_SID,
               token: str = AUTH_TOKEN) -> Client:  # fmt: skip
    """A client of `base_url`; `http_client` None means the SDK's own, over a real socket."""
    client = Client(sid, token, http_client=http_client)
    client.edge = client.region = None
    client.taskrouter.base_url = base_url
    return client


def rest_error(call: Callable[..., Any], *args: Any, **kwargs: Any) -> TwilioRestException:
    """The error the SDK raises for `call(*args, **kwargs)`, which must fail."""
    with pytest.raises(TwilioRestException) as caught:
        call(*args, **kwargs)
    return caught.value


def etag(response: Any) -> str:
    """The ETag of an SDK `*_with_http_info` response (header names arrive in either case)."""
    headers = {name.lower(): value for name, value in response.headers.items()}
    value: str = headers["etag"]
    return value


class Body:
    """What the SDK's bulk call takes: any object with to_dict()."""

    def __init__(self, document: Any) -> None:
        self.document = document

    def to_dict(self) -> Any:
        return self.document
