"""Switchboard as a test kit: a fresh TaskRouter per test, in process.

- `TaskRouter` (kit): one Switchboard on an in-memory database with a manual clock, its SDK
  client, time control, events, a workspace builder and callback delivery into the app under
  test. The pytest plugin (`plugin`) gives it as the `taskrouter` and `taskrouter_server`
  fixtures.
- `mock_taskrouter` (mock): every `twilio.rest.Client` the code under test creates talks to
  one in process, unchanged.
- Beneath them: `instance` (the app and callback delivery), `connections` (in process or
  over a port), `loop` (the kit's event loop, run by its caller), `asgi` (one direct ASGI
  exchange), `sdk` (the SDK's HTTP client), `targets` (the app under test as a callback
  target), `credentials` (any credentials made valid, for the mock), `workspaces` (the
  dict → workspace builder) and `errors`.

Names are imported on first use: pytest loads the plugin module, inside this package, in
every test run of every project that has Switchboard installed, and that must not cost them
the SDK, Starlette and the app.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from switchboard.testing.errors import (
        CallbackTargetError,
        ClockError,
        TaskRouterTestError,
        UnmockedHostError,
    )
    from switchboard.testing.kit import ACCOUNT_SID, AUTH_TOKEN, TaskRouter
    from switchboard.testing.mock import mock_taskrouter
    from switchboard.testing.workspaces import Workspace

_WHERE = {
    "ACCOUNT_SID": "kit",
    "AUTH_TOKEN": "kit",
    "CallbackTargetError": "errors",
    "ClockError": "errors",
    "TaskRouter": "kit",
    "TaskRouterTestError": "errors",
    "UnmockedHostError": "errors",
    "Workspace": "workspaces",
    "mock_taskrouter": "mock",
}

__all__ = [
    "ACCOUNT_SID",
    "AUTH_TOKEN",
    "CallbackTargetError",
    "ClockError",
    "TaskRouter",
    "TaskRouterTestError",
    "UnmockedHostError",
    "Workspace",
    "mock_taskrouter",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
