"""Live boards: committed writes wake the browsers watching their workspace.

The engine tells `on_commit` of every committed write (on whatever thread committed it); the
feed hops onto the event loop and sets the workspace's watchers' flags. A watcher wakes,
waits a moment so a burst of writes becomes one update, and sends the board again, never
sooner than MIN_PUSH_SECONDS after the last. Writes
made by other processes on a shared PostgreSQL database reach no listener here, so a watcher
also looks at the workspace's change number every few seconds and sends when it moved.
"""

from __future__ import annotations

import asyncio

from switchboard.asyncio_bridge import call_in_loop
from switchboard.models import Committed

# A burst of writes (a tick's batch, a busy queue) within this window becomes one update.
COALESCE_SECONDS = 0.1
# A watcher sends at most one board this often: under a steady flow of writes each update
# costs a build and the browser's redraw, and a person watching needs no more.
MIN_PUSH_SECONDS = 0.5
# How often a watcher looks for other processes' writes.
POLL_SECONDS = 2.0


class BoardFeed:
    """Per workspace, the flags of the watchers waiting for its next change."""

    def __init__(self) -> None:
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """The loop the watchers wait on (None: the app is stopping)."""
        self._loop = loop

    def on_commit(self, tx: Committed) -> None:
        if tx.events and tx.workspace.sid in self._watchers:
            call_in_loop(self._loop, self.wake, tx.workspace.sid)

    def wake(self, workspace_sid: str) -> None:
        """Wake the workspace's watchers (on the event loop)."""
        for flag in self._watchers.get(workspace_sid, ()):
            flag.set()

    def watch(self, workspace_sid: str) -> asyncio.Event:
        flag = asyncio.Event()
        self._watchers.setdefault(workspace_sid, set()).add(flag)
        return flag

    def unwatch(self, workspace_sid: str, flag: asyncio.Event) -> None:
        flags = self._watchers.get(workspace_sid)
        if flags is not None:
            flags.discard(flag)
            if not flags:
                del self._watchers[workspace_sid]

    def watching(self) -> int:
        return sum(len(flags) for flags in self._watchers.values())
