"""Shared fixtures: a server on a temporary SQLite database, reached through the official
twilio SDK either in process (Starlette's TestClient) or over a real uvicorn socket."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from starlette.testclient import TestClient
from twilio.http import HttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client

from switchboard.api.context import Services
from switchboard.app import build_services, create_app
from switchboard.config import Settings
from switchboard.storage import Store
from switchboard.timers import ManualClock

# The SDK rewrites hosts when these are set (clients.md §1.1); a test run must not inherit them.
for _name in ("TWILIO_EDGE", "TWILIO_REGION"):
    os.environ.pop(_name, None)
os.environ["NO_PROXY"] = "127.0.0.1,localhost"

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-auth-token"
OTHER_ACCOUNT_SID = "AC" + "2" * 32
OTHER_AUTH_TOKEN = "other-auth-token"
POSTGRES_URL = os.environ.get("SWITCHBOARD_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class InProcessHttpClient(HttpClient):
    """The SDK's requests, encoded exactly as `requests` would, served by the app in process."""

    def __init__(self, app: Any) -> None:
        super().__init__(logger=__import__("logging").getLogger("tests.sdk"), is_async=False)
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
    client = Client(sid, token, http_client=http_client)
    client.edge = client.region = None
    client.taskrouter.base_url = base_url
    return client


def make_services(tmp_path: Path, **overrides: Any) -> Services:
    # A manual clock, declared as such: the app then runs no tick loop of its own, and time
    # moves only when a test moves it (services.clock / POST /switchboard/clock).
    overrides.setdefault("clock", "manual")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'switchboard.db'}", **overrides)
    store = Store.open(settings.database_url)
    services = build_services(settings, store=store, clock=ManualClock(START_MS))
    services.engine.accounts.ensure_account(ACCOUNT_SID, AUTH_TOKEN)
    services.engine.accounts.ensure_account(OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN)
    return services


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = make_services(tmp_path)
    yield services
    services.store.close()


@pytest.fixture
def app(services: Services) -> Any:
    return create_app(services.settings, services=services)


@pytest.fixture
def http(app: Any) -> Iterator[TestClient]:
    """Raw HTTP in process, authenticated as the test account."""
    with TestClient(app, base_url="http://testserver") as client:
        client.auth = (ACCOUNT_SID, AUTH_TOKEN)
        yield client


@pytest.fixture
def client(app: Any, http: TestClient) -> Client:
    """The official SDK, served in process."""
    return sdk_client(InProcessHttpClient(app), "http://testserver")


@pytest.fixture
def other_client(app: Any, http: TestClient) -> Client:
    """The SDK as a second, unrelated account."""
    return sdk_client(
        InProcessHttpClient(app), "http://testserver", OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN
    )


@pytest.fixture
def workspace(client: Client) -> Any:
    """A fresh workspace, as the SDK returns it."""
    return client.taskrouter.v1.workspaces.create(friendly_name="Test Workspace")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RunningServer:
    """A real uvicorn server on a loopback port, in a background thread."""

    def __init__(self, app: Any) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RunningServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[RunningServer]:
    services = make_services(tmp_path)
    with RunningServer(create_app(services.settings, services=services)) as server:
        yield server
    services.store.close()


@pytest.fixture
def live_client(live_server: RunningServer) -> Client:
    """The official SDK over a real socket, with its own requests-based HTTP client."""
    return sdk_client(None, live_server.url)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards. PostgreSQL must be running: tests that
    use it fail rather than skip when it is not."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
