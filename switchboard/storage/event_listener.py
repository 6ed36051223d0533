"""Hearing other processes commit events: PostgreSQL's LISTEN on a connection of its own.

Every write that stores events also sends `pg_notify(events_channel, workspace_sid)` with its
COMMIT (`Database.announce`; a group of writes once per workspace), which PostgreSQL delivers
when, and only if, the write commits. A listener
holds one connection per process, on the event loop (an asyncio connection: a thread waiting
on the socket would have to take the interpreter lock for each notification, and under uvloop
that cost the loop tens of milliseconds at a time), and hands each notification's workspace
to `heard`; notifications sent by this process's own connection are left out (its commits
are known without the database's help). A lost connection is replaced with backoff, and once
listening again `heard(None)` says that anything may have been committed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from switchboard.storage.postgres import CONNECTION_OPTIONS

log = logging.getLogger("switchboard.storage")

RETRY_FIRST_S, RETRY_MAX_S = 0.05, 2.0


class EventListener:
    """The listening task; `start` on the event loop, `close` to end it."""

    def __init__(
        self,
        url: str,
        channel: str,
        heard: Callable[[str | None], None],
        *,
        own_pid: Callable[[], int | None],
    ) -> None:
        given = conninfo_to_dict(url)
        options = {k: v for k, v in CONNECTION_OPTIONS.items() if k not in given}
        self._conninfo = make_conninfo(url, **options)
        self._channel = channel
        self._heard, self._own_pid = heard, own_pid
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    def start(self) -> None:
        self.listening = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="switchboard-listen")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        delay = RETRY_FIRST_S
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                async with conn:
                    await conn.execute(f'LISTEN "{self._channel}"')
                    self.listening.set()
                    delay = RETRY_FIRST_S
                    self._heard(None)
                    async for notification in conn.notifies():
                        if notification.pid != self._own_pid():
                            self._heard(notification.payload)
            except psycopg.Error as error:
                log.warning("listening for committed events failed (%s); retrying", error)
            except Exception:  # a bug in `heard` must not end listening for good
                log.exception("handling a committed-events notification failed")
            self.listening.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
