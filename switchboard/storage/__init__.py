"""Persistence: one Store in portable SQL over SQLite (default) or PostgreSQL.

The Store (store.py) is all its callers use: reads, `write` for one transaction under a
workspace's lock, and the verbs that keep commit mechanics inside (`after_commit`,
`commit_pending`, `send_ahead`, `group_commits`, `commit_each_write`). It reads and writes
accounts, API keys, workspaces and their configuration (activities, task channels, task
queues, workers and their channels) itself; the rest it gives to collaborators it builds on
its connection and names after what they hold, one module each:

- what the engine routes: `store.workflows` (workflow_rows.py), `store.tasks`
  (task_rows.py), `store.reservations` (reservation_rows.py), `store.deadlines`
  (deadline_rows.py), `store.assignment_callbacks` (assignment_callback_rows.py) and
  `store.transfers` (transfer_rows.py);
- what every write did: `store.events` (event_rows.py) and their delivery to event
  callback URLs, `store.event_streams` (event_stream_rows.py);
- aggregate reads: `store.statistics` (statistics_rows.py) for the statistics endpoints,
  `store.board` (board_rows.py) for the console's board and metrics;
- `store.presence` (presence_rows.py): the worker SDK's sessions, across processes.

Behind them:

- columns.py: each state table's columns, shared SELECTs, and rows turned into records and
  back; keyset.py: list ordering and resuming after a row; sql.py: placeholder lists and
  INSERTs, written once.
- held_rows.py: task, reservation and worker rows held back and written together at the end
  of a write; event_attributes.py: attribute texts stored once for the events that show them.
- database.py: the connection the Store needs and what both databases share; sqlite.py (group
  commit, the WAL checkpointer in checkpointer.py) and postgres.py (advisory locks, groups of
  pipelined writes, COPY; its reads on readers.py's connections, a write's rows sent through
  libpq by pipeline_sender.py, LISTEN in event_listener.py) implement it; timed.py times
  either; databases.py opens the one a URL names.
- migrate.py and migrations/: the schema; leader.py: which process runs the deadline tick.

A database that cannot be used now raises `switchboard.errors.DatabaseUnavailable` from any
verb and keeps nothing of the write it was in; PostgreSQL replaces a lost connection by itself
(postgres.py), and `Store.database_outage` tells health whether the database answers.
"""

from switchboard.storage.database import Database
from switchboard.storage.databases import connect
from switchboard.storage.event_rows import EventRow
from switchboard.storage.store import Store

__all__ = ["Database", "EventRow", "Store", "connect"]
