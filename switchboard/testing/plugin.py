"""The pytest plugin (entry point `pytest11`): two fixtures and nothing else. It imports the
kit only when a test asks for a fixture, so installing Switchboard costs other test suites
nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from switchboard.testing.kit import TaskRouter


@pytest.fixture
def taskrouter() -> Iterator[TaskRouter]:
    """A fresh Switchboard for this test, in process: `.client` (the official SDK),
    `.advance()`, `.events()`, `.workspace()`, `.deliver_callbacks_to()`."""
    from switchboard.testing.kit import TaskRouter

    with TaskRouter() as kit:
        yield kit


@pytest.fixture
def taskrouter_server() -> Iterator[TaskRouter]:
    """The same over a real loopback port (`.url`), for code that insists on HTTP."""
    from switchboard.testing.kit import TaskRouter

    with TaskRouter(server=True) as kit:
        yield kit
