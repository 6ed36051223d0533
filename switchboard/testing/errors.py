"""The errors the test kit raises into a test's own traceback when it is used wrongly or when
the application under test fails, so a test fails at once with the reason, never hangs."""

from __future__ import annotations


class TaskRouterTestError(Exception):
    """A test asked the kit for something it cannot honour."""


class ClockError(TaskRouterTestError):
    """Time was moved on a Switchboard whose clock cannot move (the system clock), or
    backwards."""


class CallbackTargetError(TaskRouterTestError):
    """The application that receives callbacks raised while handling one; the application's
    own exception is this one's `__cause__`."""


class UnmockedHostError(TaskRouterTestError):
    """Code under `mock_taskrouter` called a Twilio host other than TaskRouter's."""
