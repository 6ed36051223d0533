"""Placeholder: being written."""

from __future__ import annotations

from switchboard.engine.core import EngineCore


class TaskChannelOps(EngineCore):
    pass
