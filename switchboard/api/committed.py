"""No response leaves before the writes it may show are committed.

With group commit (`Store.group_commits`) a write returns while its group's transaction is
still open; the group commits once the event loop has run everything else that was ready. A
response starts only after that commit (`until_committed`), so a client is never told of, or
shown, a change that is not yet durable. Should the group's COMMIT fail, every response
waiting for it becomes a 500 (a 503 when the database could not be used: a full disk, an I/O
error; `commit_failure`) and nothing of the group is kept.

An answer made only of what a read on the read pool returned (PostgreSQL: committed rows,
never the loop's open group) shows nothing that could be taken back, so it need not wait:
its handler says so with `shows_committed_only`, and a worker fetch does not queue behind
a whole group's writes and COMMIT.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from switchboard.errors import DatabaseUnavailable, InternalError, TwilioError

_COMMITTED_ONLY = "switchboard.shows_committed_only"


def shows_committed_only(scope: MutableMapping[str, Any]) -> None:
    """The request's answer is made of committed rows only: it goes out without waiting for
    the open group of writes."""
    scope[_COMMITTED_ONLY] = True


def waits_for_commit(scope: MutableMapping[str, Any]) -> bool:
    return not scope.get(_COMMITTED_ONLY, False)


def commit_failure(failure: BaseException) -> tuple[TwilioError, dict[str, str]]:
    """The error that replaces an answer whose writes were not kept, and its extra headers."""
    if isinstance(failure, DatabaseUnavailable):
        return failure, {"Retry-After": str(failure.retry_after)}
    return InternalError("The change could not be saved; nothing of it was kept"), {}
