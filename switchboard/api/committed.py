"""No response leaves before the writes it may show are committed.

With group commit (`Store.group_commits`) a write returns while its group's transaction is
still open; the group commits once the event loop has run everything else that was ready. A
response starts only after that commit (`until_committed`), so a client is never told of, or
shown, a change that is not yet durable. Should the group's COMMIT fail, every response
waiting for it becomes a 500 (a 503 when the database could not be used: a full disk, an I/O
error; `commit_failure`) and nothing of the group is kept.
"""

from __future__ import annotations

from switchboard.errors import DatabaseUnavailable, InternalError, TwilioError


def commit_failure(failure: BaseException) -> tuple[TwilioError, dict[str, str]]:
    """The error that replaces an answer whose writes were not kept, and its extra headers."""
    if isinstance(failure, DatabaseUnavailable):
        return failure, {"Retry-After": str(failure.retry_after)}
    return InternalError("The change could not be saved; nothing of it was kept"), {}
