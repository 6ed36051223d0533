"""`mock_taskrouter()`: the code under test runs unchanged against a Switchboard in process.

Inside it, every `twilio.rest.Client`, whatever its credentials and without any base URL
change, reaches TaskRouter through a Switchboard: the SDK's default HTTP client is patched
for TaskRouter's host only (and so is its async client, `AsyncTwilioHttpClient`). A request
to any other Twilio host is refused with an error that names it (pass `other_hosts="allow"`
to let it go to the network as before).

A client made with an API key (`Client(key_sid, key_secret, account_sid)`) acts for the
account it names, as at Twilio, not for an account of its own: the account a request is made
for is known only to the SDK's `Client`, never to its HTTP client, so while a mock is active
the SDK's `ClientBase.request` notes it for the HTTP client to pass on.

    @mock_taskrouter()
    def test_app_creates_a_task():
        ...                                   # a fresh Switchboard for each call

    with mock_taskrouter() as taskrouter:     # the TaskRouter kit: .advance(), .events() …
        ...

    mock = mock_taskrouter(); mock.start()    # kept across tests; mock.reset() empties it
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from twilio.base.client_base import ClientBase
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

from switchboard.testing.credentials import ACTING_ACCOUNT_HEADER
from switchboard.testing.errors import TaskRouterTestError, UnmockedHostError
from switchboard.testing.kit import TaskRouter
from switchboard.testing.sdk import prepare, sdk_response

F = TypeVar("F", bound=Callable[..., Any])

_active: list[mock_taskrouter] = []
_patch_lock = threading.Lock()
_original: Callable[..., Response] | None = None
_original_async: Callable[..., Awaitable[Response]] | None = None
_original_client: Callable[..., Response] | None = None
_original_client_async: Callable[..., Awaitable[Response]] | None = None
# The `account_sid` of the SDK client whose request is under way (see the docstring).
_acting_account: ContextVar[str | None] = ContextVar("switchboard_acting_account", default=None)


def is_taskrouter_host(host: str) -> bool:
    """taskrouter.twilio.com, or its edge/region forms (taskrouter.sydney.au1.twilio.com)."""
    return host.startswith("taskrouter.") and host.endswith(".twilio.com")


def _serving(method: str, url: str) -> mock_taskrouter | None:
    """The mock that answers this request, or None when it goes to the network as before
    (no mock is active, or it lets other hosts through); a host it refuses is an error."""
    mock = _active[-1] if _active else None
    host = urlsplit(url).hostname or ""
    if mock is None or is_taskrouter_host(host):
        return mock
    if mock.other_hosts == "allow":
        return None
    raise UnmockedHostError(
        f"mock_taskrouter stands in for taskrouter.twilio.com only, and this is {method}"
        f" {url}: mock that service as well, or use mock_taskrouter(other_hosts='allow')"
        " to let its requests reach the network"
    )


def _with_acting_account(headers: dict[str, str] | None) -> dict[str, str] | None:
    account = _acting_account.get()
    if account is None:
        return headers
    return {**(headers or {}), ACTING_ACCOUNT_HEADER: account}


def _client_request(client: ClientBase, *args: Any, **kwargs: Any) -> Response:
    """ClientBase.request while a mock is active: the same, its account noted."""
    assert _original_client is not None
    token = _acting_account.set(client.account_sid)
    try:
        return _original_client(client, *args, **kwargs)
    finally:
        _acting_account.reset(token)


async def _client_request_async(client: ClientBase, *args: Any, **kwargs: Any) -> Response:
    assert _original_client_async is not None
    token = _acting_account.set(client.account_sid)
    try:
        return await _original_client_async(client, *args, **kwargs)
    finally:
        _acting_account.reset(token)


def _request(
    client: TwilioHttpClient,
    method: str,
    url: str,
    params: dict[str, object] | None = None,
    data: dict[str, object] | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    timeout: float | None = None,
    allow_redirects: bool = False,
) -> Response:
    """TwilioHttpClient.request while a mock is active."""
    mock = _serving(method, url)
    if mock is None:
        assert _original is not None
        return _original(client, method, url, params, data, headers, auth, timeout, allow_redirects)
    prepared = prepare(method, url, params, data, _with_acting_account(headers), auth)
    return sdk_response(client, mock.taskrouter.serve(prepared))


async def _request_async(
    client: AsyncTwilioHttpClient,
    method: str,
    url: str,
    params: dict[str, object] | None = None,
    data: dict[str, object] | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    timeout: float | None = None,
    allow_redirects: bool = False,
) -> Response:
    """AsyncTwilioHttpClient.request while a mock is active: the same, served from a worker
    thread so the caller's loop goes on meanwhile."""
    mock = _serving(method, url)
    if mock is None:
        assert _original_async is not None
        return await _original_async(
            client, method, url, params, data, headers, auth, timeout, allow_redirects
        )
    prepared = prepare(method, url, params, data, _with_acting_account(headers), auth)
    return sdk_response(client, await asyncio.to_thread(mock.taskrouter.serve, prepared))


def _patch() -> None:
    global _original, _original_async, _original_client, _original_client_async
    if _original is None:
        _original, _original_async = TwilioHttpClient.request, AsyncTwilioHttpClient.request
        _original_client, _original_client_async = ClientBase.request, ClientBase.request_async
        TwilioHttpClient.request = _request
        AsyncTwilioHttpClient.request = _request_async
        ClientBase.request = _client_request
        ClientBase.request_async = _client_request_async


def _unpatch() -> None:
    global _original, _original_async, _original_client, _original_client_async
    if _original is not None:
        TwilioHttpClient.request = _original
        AsyncTwilioHttpClient.request = _original_async
        ClientBase.request = _original_client
        ClientBase.request_async = _original_client_async
        _original = _original_async = _original_client = _original_client_async = None


class mock_taskrouter:  # named like the function it stands beside in moto: mock_aws
    """A context manager and decorator; `start()`/`stop()` for state kept across tests.
    Keyword arguments go to the `TaskRouter` it creates (clock, start, account_sid …)."""

    def __init__(
        self,
        taskrouter: TaskRouter | None = None,
        *,
        other_hosts: Literal["raise", "allow"] = "raise",
        **kit: Any,
    ) -> None:
        """`taskrouter`: serve this kit (the `taskrouter` fixture, say) rather than one of
        the mock's own; it then takes any credentials too, and stays open after `stop`."""
        self.other_hosts = other_hosts
        self._kit_options = kit
        self._given = taskrouter
        self._taskrouter: TaskRouter | None = None

    @property
    def taskrouter(self) -> TaskRouter:
        if self._taskrouter is None:
            raise TaskRouterTestError("this mock_taskrouter is not started")
        return self._taskrouter

    def start(self) -> TaskRouter:
        self._taskrouter = self._new()
        with _patch_lock:
            _active.append(self)
            _patch()
        return self._taskrouter

    def stop(self) -> None:
        with _patch_lock:
            if self in _active:
                _active.remove(self)
            if not _active:
                _unpatch()
        if self._taskrouter is not None and self._taskrouter is not self._given:
            self._taskrouter.close()
        self._taskrouter = None

    def reset(self) -> TaskRouter:
        """Forget everything: a new, empty Switchboard from here on."""
        if self._given is not None:
            raise TaskRouterTestError(
                "reset() empties a Switchboard the mock made; this one was given to it"
            )
        old, self._taskrouter = self.taskrouter, self._new()
        old.close()
        return self._taskrouter

    def _new(self) -> TaskRouter:
        if self._given is not None:
            self._given.any_credentials = True
            return self._given
        return TaskRouter(any_credentials=True, **self._kit_options)

    def __enter__(self) -> TaskRouter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __call__(self, func: F) -> F:
        """As a decorator: a fresh Switchboard for each call of `func`."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await func(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return run  # type: ignore[return-value]
