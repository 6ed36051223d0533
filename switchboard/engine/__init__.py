"""The engine: the only writer of Switchboard's state, one method per TaskRouter operation.

`Engine` builds its parts in dependency order and names them; callers reach an operation
through its resource, as Twilio names it: `engine.workers.create_worker(...)`,
`engine.tasks.update_task(...)`, `engine.deadlines.tick(now)`.

Who may call whom (each part receives exactly the parts it calls):
- `core` (`EngineCore`): the store, the clock, limits, the routing indexes, `writing(...)` (one
  write under the workspace lock) and `commit_listeners`. Every workspace part opens its writes
  here; it calls no part.
- `dispatcher` (`Dispatcher`): routing inside a caller's write (place, reserve, fill a worker,
  release, requeue, cancel). It takes only the store and calls no part. It is made of parts
  of its own, one module each, and names the operations of theirs the resources call:
  `records` (tasks and reservations written, and their events), `worker_changes` (activity
  and version changes the engine makes), `transfers` (`TransferLedger`), `offers` (picking
  and reserving workers, filling a worker), `closing` (closing and cancelling tasks), `steps`
  (workflow steps and a direct task's own, with `targets.py`) and `declines` (what follows
  offers that all ended unaccepted); `reasons.py` holds the reasons tasks are canceled for.
- `accounts`: accounts and API keys, on the store and the core's clock alone.
- `workspaces`, `activities`, `task_channels`: the core only; they never route.
- `task_queues`, `workers`, `worker_channels`, `workflows`, `tasks`: the core and the
  dispatcher.
- `reservations`: the core, the dispatcher and `tasks` (a reservation wraps up or completes
  its task).
- `transfers`: the core, the dispatcher and `tasks` (the worker SDK's cold transfers; the
  dispatcher's `TransferLedger` records how they end).
- `deadlines`: the core, the dispatcher, `tasks` (a TTL) and `reservations` (a timeout).
Nothing below calls `Engine`; the API, the tick loop and the callback sender call the parts.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from switchboard.engine.accounts import Accounts
from switchboard.engine.activities import Activities
from switchboard.engine.core import EngineCore, Limits
from switchboard.engine.deadlines import Deadlines
from switchboard.engine.dispatch import Dispatcher
from switchboard.engine.index import WorkspaceIndex
from switchboard.engine.reservations import Reservations
from switchboard.engine.task_channels import TaskChannels
from switchboard.engine.task_queues import TaskQueues
from switchboard.engine.tasks import Tasks
from switchboard.engine.transfers import Transfers
from switchboard.engine.tx import Tx
from switchboard.engine.worker_channels import WorkerChannels
from switchboard.engine.workers import Workers
from switchboard.engine.workflows import Workflows
from switchboard.engine.workspaces import Workspaces
from switchboard.models import Clock
from switchboard.storage import Store


class Engine:
    """Every state-changing operation of Switchboard, by resource."""

    def __init__(self, store: Store, clock: Clock, limits: Limits | None = None) -> None:
        self.store = store
        self.core = core = EngineCore(store, clock, limits)
        self.dispatcher = dispatcher = Dispatcher(store, core.limits.closed_task_retention_ms)
        self.accounts = Accounts(store, core.now)
        self.workspaces = Workspaces(core)
        self.activities = Activities(core)
        self.task_channels = TaskChannels(core)
        self.task_queues = TaskQueues(core, dispatcher)
        self.workers = Workers(core, dispatcher)
        self.worker_channels = WorkerChannels(core, dispatcher)
        self.workflows = Workflows(core, dispatcher)
        self.tasks = tasks = Tasks(core, dispatcher)
        self.reservations = reservations = Reservations(core, dispatcher, tasks)
        self.transfers = Transfers(core, dispatcher, tasks)
        self.deadlines = Deadlines(core, dispatcher, tasks, reservations)
        # Called with each committed write (the tick loop and the callback senders wake on
        # them); the core's own list, so appending here is appending there.
        self.commit_listeners: list[Callable[[Tx], None]] = core.commit_listeners

    @property
    def clock(self) -> Clock:
        """The clock every part reads (through the core): replace it there, `core.clock`."""
        return self.core.clock

    def now(self) -> int:
        """The engine's time (the injected clock), in epoch milliseconds."""
        return self.core.now()

    def index(self, workspace_sid: str) -> WorkspaceIndex:
        """The workspace's routing index, caught up with the database (for readers such as
        real-time statistics; writers get theirs inside `writing`)."""
        return self.core.index(workspace_sid)

    def as_of(self, workspace_sid: str, seq: int) -> AbstractContextManager[None]:
        """`index` inside the block catches up to change number `seq` (see EngineCore.as_of)."""
        return self.core.as_of(workspace_sid, seq)

    def warm_up(self) -> int:
        """Build every workspace's routing index now rather than on its first request."""
        return self.core.warm_up()


__all__ = ["Engine", "Limits"]
