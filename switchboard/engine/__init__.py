"""The engine: the only writer of Switchboard's state, one method per operation.

`Engine` is assembled from one mixin per resource so each file stays about one thing; they
share `EngineCore` (store, clock, limits, routing indexes).
"""

from switchboard.engine.accounts import AccountOps
from switchboard.engine.activities import ActivityOps
from switchboard.engine.core import EngineCore, Limits
from switchboard.engine.task_channels import TaskChannelOps
from switchboard.engine.task_queues import TaskQueueOps
from switchboard.engine.ticks import TickOps
from switchboard.engine.worker_channels import WorkerChannelOps
from switchboard.engine.workers import WorkerOps
from switchboard.engine.workflows import WorkflowOps
from switchboard.engine.workspaces import WorkspaceOps


class Engine(
    WorkspaceOps,
    ActivityOps,
    TaskChannelOps,
    TaskQueueOps,
    WorkerOps,
    WorkerChannelOps,
    WorkflowOps,
    TickOps,
    AccountOps,
    EngineCore,
):
    """Every state-changing operation of Switchboard."""


__all__ = ["Engine", "Limits"]
