"""Persistence: one Store in portable SQL over SQLite (default) or PostgreSQL."""

from switchboard.storage.database import Database
from switchboard.storage.databases import connect
from switchboard.storage.event_rows import EventRow
from switchboard.storage.store import Store

__all__ = ["Database", "EventRow", "Store", "connect"]
