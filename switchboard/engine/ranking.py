"""A queue's members ranked under one workflow target's `order_by`.

Routing a task to an order_by target wants the first members by their sort key, ties to the
longest idle. Walking every member for that cost a large queue's task milliseconds of the
event loop, every time, however few members were needed. A `Ranking` groups the members by
their sort key, keeps the distinct keys in order, and is kept up to date as workers join,
leave or change (`WorkspaceIndex`), so routing looks at the holders of the best keys only.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import Any

from switchboard.expressions import OrderClause

OrderBy = tuple[OrderClause, ...]
SortKey = tuple[Any, ...]


class Ranking:
    """The members of one queue by their sort key under `order_by`: the distinct keys best
    first, and the workers holding each."""

    __slots__ = ("_holders", "_keys", "order_by")

    def __init__(self, order_by: OrderBy) -> None:
        self.order_by = order_by
        self._keys: list[SortKey] = []
        self._holders: dict[SortKey, set[str]] = {}

    def add(self, worker_sid: str, key: SortKey) -> None:
        holders = self._holders.get(key)
        if holders is None:
            holders = self._holders[key] = set()
            bisect.insort(self._keys, key)
        holders.add(worker_sid)

    def remove(self, worker_sid: str, key: SortKey) -> None:
        holders = self._holders.get(key)
        if holders is None:
            return
        holders.discard(worker_sid)
        if not holders:
            del self._holders[key]
            del self._keys[bisect.bisect_left(self._keys, key)]

    def move(self, worker_sid: str, old: SortKey, new: SortKey) -> None:
        if old != new:
            self.remove(worker_sid, old)
            self.add(worker_sid, new)

    def groups(self) -> Iterator[set[str]]:
        """The holders of each key, best key first. Not to be changed while iterated."""
        for key in self._keys:
            yield self._holders[key]

    def best(
        self, limit: int, idle_since: dict[str, int], eligible: Callable[[str], bool]
    ) -> list[str]:
        """The first `limit` eligible members: by key, then longest idle (then SID). Within
        a key's holders only a member that would beat those kept is checked for eligibility,
        the costly part; the walk stops at the first key that leaves nothing to fill."""
        picked: list[str] = []
        if limit < 1:
            return picked
        for holders in self.groups():
            kept: list[tuple[int, str]] = []
            wanted = limit - len(picked)
            for sid in holders:
                rank = (idle_since.get(sid, 0), sid)
                if len(kept) >= wanted and rank >= kept[-1]:
                    continue
                if eligible(sid):
                    bisect.insort(kept, rank)
                    if len(kept) > wanted:
                        kept.pop()
            picked.extend(sid for _, sid in kept)
            if len(picked) >= limit:
                break
        return picked
