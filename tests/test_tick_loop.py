"""The tick loop sleeps until its next deadline and wakes early only for an earlier one."""

from __future__ import annotations

import asyncio

import pytest

from switchboard.storage.leader import SoleLeader
from switchboard.timers import IDLE_SECONDS, TickLoop
from tests.support import eventually_async


class CountingEngine:
    """Time stands at 0 and nothing is ever due; each look at the deadlines is counted."""

    def __init__(self) -> None:
        self.looks = 0
        self.ticks = 0

    def tick(self, now: int | None = None, *, limit: int | None = None) -> int:
        self.ticks += 1
        return 0

    def next_deadline(self) -> int | None:
        self.looks += 1
        return None

    def now(self) -> int:
        return 0


@pytest.mark.slow
def test_a_commit_wakes_the_loop_only_for_a_deadline_before_its_next_look() -> None:
    async def scenario() -> None:
        engine = CountingEngine()
        loop = TickLoop(engine, SoleLeader())
        running = asyncio.create_task(loop.run())
        await eventually_async(lambda: engine.looks == 1, what="the first look")
        # It looked once and is now asleep for IDLE_SECONDS (it sets its wake-up time in the
        # same step as the look, with no await between: the inline read does not wait).
        loop.wake_for(int(IDLE_SECONDS * 1000) + 1)  # later than it means to look anyway
        loop.wake_for(None)  # a commit that wrote no deadline
        # Staying asleep is the behaviour under test, and only time can show it: give a wrong
        # wake-up the chance to tick before looking.
        await asyncio.sleep(0.05)
        assert engine.looks == 1
        loop.wake_for(100)  # earlier: it looks again at once
        await eventually_async(lambda: engine.looks == 2, what="the early look")
        assert engine.ticks == 0  # nothing was due: the engine's tick never ran
        loop.stop()
        await asyncio.wait_for(running, 5)

    asyncio.run(scenario())
