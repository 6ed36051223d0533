"""Task and worker attributes stored once for every event that shows them (migration 0008).

An event's data shows the task's and the worker's attributes as they were. A write repeats
the same few texts across many events (a burst of ten thousand reservation timeouts writes
twenty thousand events), and copied into each they would be half of every row. So each
distinct text is a row of `event_attributes` per workspace, under a digest of the workspace
and the text, and an event keeps the digests (`task_attributes_digest`,
`worker_attributes_digest`).

A process remembers which texts it has seen committed, so it writes a text again only when it
is new to it, or when it last vouched for it an hour or more ago (event time). Each time it
writes a text it raises the row's `last_used` to that moment. Pruning removes rows unused for
a day longer than events are kept: an event written at moment t refers only to a row whose
`last_used` is past t - 1 h, so a row a retained event refers to is never pruned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from switchboard.storage.database import Database

# How long (event time) a process trusts its memory that a text is stored.
TRUST_MS = 3_600_000
# How much longer than its events an attributes row is kept after its last use.
PRUNE_MARGIN_MS = 86_400_000
# Memory bound: past this many texts the process forgets them all and starts again.
MAX_REMEMBERED = 200_000

UPSERT = (
    "INSERT INTO event_attributes (digest, attributes, last_used) VALUES (?, ?, ?)"
    " ON CONFLICT (digest) DO UPDATE SET last_used = excluded.last_used"
    " WHERE excluded.last_used > event_attributes.last_used"
)


def digest(workspace_sid: str, text: str) -> str:
    return hashlib.blake2b(f"{workspace_sid}\n{text}".encode(), digest_size=16).hexdigest()


# A text as one workspace's events show it: texts are kept per workspace, so that only writes
# to the same workspace, which take turns (its write lock), ever write the same row. Shared
# between workspaces, two writes on PostgreSQL could each hold a row the other waits for.
Key = tuple[str, str]


class AttributeTexts:
    """One process's memory of the attribute texts committed to `event_attributes`."""

    def __init__(self) -> None:
        # (workspace, text) → (digest, the moment it was last written); committed writes only.
        self._stored: dict[Key, tuple[str, int]] = {}

    def refer(
        self, db: Database, rows: Sequence[tuple[Any, ...]], *, workspace_at: int, moment_at: int
    ) -> list[Any]:
        """Event rows whose last two values are attribute texts (or None), as rows with
        digests there instead; texts this process cannot vouch for are written (inside the
        caller's transaction) and remembered once it commits. `workspace_at`, `moment_at`:
        where a row holds its workspace and its event moment."""
        fresh: dict[Key, tuple[str, int]] = {}
        out: list[Any] = []
        for row in rows:
            workspace_sid, moment = row[workspace_at], row[moment_at]
            task_text, worker_text = row[-2], row[-1]
            out.append(
                (
                    *row[:-2],
                    None
                    if task_text is None
                    else self._digest((workspace_sid, task_text), moment, fresh),
                    None
                    if worker_text is None
                    else self._digest((workspace_sid, worker_text), moment, fresh),
                )
            )
        if fresh:
            db.executemany_at_end(UPSERT, [(d, key[1], m) for key, (d, m) in fresh.items()])
            db.when_committed(lambda: self._remember(fresh.items()))
        return out

    def _digest(self, key: Key, moment: int, fresh: dict[Key, tuple[str, int]]) -> str:
        stored = self._stored.get(key)
        if stored is not None and 0 <= moment - stored[1] < TRUST_MS:
            return stored[0]
        pending = fresh.get(key)
        if pending is None:
            found = stored[0] if stored is not None else digest(*key)
            fresh[key] = (found, moment)
            return found
        if moment > pending[1]:
            fresh[key] = (pending[0], moment)
        return pending[0]

    def _remember(self, written: Iterable[tuple[Key, tuple[str, int]]]) -> None:
        if len(self._stored) > MAX_REMEMBERED:
            self._stored = {}
        self._stored.update(written)
