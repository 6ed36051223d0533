"""Shared fixtures: a server on a temporary SQLite database, reached through the official
twilio SDK either in process (Starlette's TestClient) or over a real uvicorn socket. What the
fixtures are built from lives in tests/support."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.rest import Client

from switchboard.api.context import Services
from switchboard.app import create_app
from tests.support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    OTHER_ACCOUNT_SID,
    OTHER_AUTH_TOKEN,
    InProcessHttpClient,
    Receiver,
    RunningServer,
    drop_schema,
    make_services,
    new_schema_name,
    sdk_client,
    serve,
)

# The SDK rewrites hosts when these are set (clients.md §1.1); a test run must not inherit them.
for _name in ("TWILIO_EDGE", "TWILIO_REGION"):
    os.environ.pop(_name, None)
os.environ["NO_PROXY"] = "127.0.0.1,localhost"


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
def receiver() -> Iterator[Receiver]:
    """A callback receiver on a loopback port; every path it was not told about is a 404."""
    yield from serve(Receiver())


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards. PostgreSQL must be running: tests that
    use it fail rather than skip when it is not."""
    name = new_schema_name()
    yield name
    drop_schema(name)
