"""ROUTES: every URL Switchboard serves, in one table (the API's table of contents).

Literal segments (`/Workers/Statistics`) come before `{sid}` placeholders at the same level.
Switchboard's own endpoints (health, clock, expression explanations) live under `/switchboard`.
"""

from __future__ import annotations

from starlette.routing import Route

from switchboard.api import (
    activities,
    admin,
    events,
    reservations,
    statistics,
    task_channels,
    task_queues,
    tasks,
    worker_channels,
    workers,
    workflows,
    workspaces,
)

WS = "/v1/Workspaces/{workspace_sid}"

TABLE = [
    Route("/v1/Workspaces", workspaces.list_workspace, methods=["GET"]),
    Route("/v1/Workspaces", workspaces.create_workspace, methods=["POST"]),
    Route("/v1/Workspaces/{sid}", workspaces.fetch_workspace, methods=["GET"]),
    Route("/v1/Workspaces/{sid}", workspaces.update_workspace, methods=["POST"]),
    Route("/v1/Workspaces/{sid}", workspaces.delete_workspace, methods=["DELETE"]),
    Route(f"{WS}/Statistics", statistics.fetch_workspace_statistics, methods=["GET"]),
    Route(f"{WS}/RealTimeStatistics", statistics.fetch_workspace_real_time_statistics, methods=["GET"]),
    Route(f"{WS}/CumulativeStatistics", statistics.fetch_workspace_cumulative_statistics, methods=["GET"]),
    Route(f"{WS}/Activities", activities.list_activity, methods=["GET"]),
    Route(f"{WS}/Activities", activities.create_activity, methods=["POST"]),
    Route(f"{WS}/Activities/{{sid}}", activities.fetch_activity, methods=["GET"]),
    Route(f"{WS}/Activities/{{sid}}", activities.update_activity, methods=["POST"]),
    Route(f"{WS}/Activities/{{sid}}", activities.delete_activity, methods=["DELETE"]),
    Route(f"{WS}/TaskChannels", task_channels.list_task_channel, methods=["GET"]),
    Route(f"{WS}/TaskChannels", task_channels.create_task_channel, methods=["POST"]),
    Route(f"{WS}/TaskChannels/{{sid}}", task_channels.fetch_task_channel, methods=["GET"]),
    Route(f"{WS}/TaskChannels/{{sid}}", task_channels.update_task_channel, methods=["POST"]),
    Route(f"{WS}/TaskChannels/{{sid}}", task_channels.delete_task_channel, methods=["DELETE"]),
    Route(f"{WS}/TaskQueues", task_queues.list_task_queue, methods=["GET"]),
    Route(f"{WS}/TaskQueues", task_queues.create_task_queue, methods=["POST"]),
    Route(f"{WS}/TaskQueues/Statistics", statistics.list_task_queues_statistics, methods=["GET"]),
    Route(f"{WS}/TaskQueues/RealTimeStatistics", statistics.create_task_queue_bulk_real_time_statistics, methods=["POST"]),
    Route(f"{WS}/TaskQueues/{{sid}}", task_queues.fetch_task_queue, methods=["GET"]),
    Route(f"{WS}/TaskQueues/{{sid}}", task_queues.update_task_queue, methods=["POST"]),
    Route(f"{WS}/TaskQueues/{{sid}}", task_queues.delete_task_queue, methods=["DELETE"]),
    Route(f"{WS}/TaskQueues/{{task_queue_sid}}/Statistics", statistics.fetch_task_queue_statistics, methods=["GET"]),
    Route(f"{WS}/TaskQueues/{{task_queue_sid}}/RealTimeStatistics", statistics.fetch_task_queue_real_time_statistics, methods=["GET"]),
    Route(f"{WS}/TaskQueues/{{task_queue_sid}}/CumulativeStatistics", statistics.fetch_task_queue_cumulative_statistics, methods=["GET"]),
    Route(f"{WS}/Workers", workers.list_worker, methods=["GET"]),
    Route(f"{WS}/Workers", workers.create_worker, methods=["POST"]),
    Route(f"{WS}/Workers/Statistics", statistics.fetch_worker_statistics, methods=["GET"]),
    Route(f"{WS}/Workers/RealTimeStatistics", statistics.fetch_workers_real_time_statistics, methods=["GET"]),
    Route(f"{WS}/Workers/CumulativeStatistics", statistics.fetch_workers_cumulative_statistics, methods=["GET"]),
    Route(f"{WS}/Workers/{{sid}}", workers.fetch_worker, methods=["GET"]),
    Route(f"{WS}/Workers/{{sid}}", workers.update_worker, methods=["POST"]),
    Route(f"{WS}/Workers/{{sid}}", workers.delete_worker, methods=["DELETE"]),
    Route(f"{WS}/Workers/{{worker_sid}}/Statistics", statistics.fetch_worker_instance_statistics, methods=["GET"]),
    Route(f"{WS}/Workers/{{worker_sid}}/Channels", worker_channels.list_worker_channel, methods=["GET"]),
    Route(f"{WS}/Workers/{{worker_sid}}/Channels/{{sid}}", worker_channels.fetch_worker_channel, methods=["GET"]),
    Route(f"{WS}/Workers/{{worker_sid}}/Channels/{{sid}}", worker_channels.update_worker_channel, methods=["POST"]),
    Route(f"{WS}/Workers/{{worker_sid}}/Reservations", reservations.list_worker_reservation, methods=["GET"]),
    Route(f"{WS}/Workers/{{worker_sid}}/Reservations/{{sid}}", reservations.fetch_worker_reservation, methods=["GET"]),
    Route(f"{WS}/Workers/{{worker_sid}}/Reservations/{{sid}}", reservations.update_worker_reservation, methods=["POST"]),
    Route(f"{WS}/Workflows", workflows.list_workflow, methods=["GET"]),
    Route(f"{WS}/Workflows", workflows.create_workflow, methods=["POST"]),
    Route(f"{WS}/Workflows/{{sid}}", workflows.fetch_workflow, methods=["GET"]),
    Route(f"{WS}/Workflows/{{sid}}", workflows.update_workflow, methods=["POST"]),
    Route(f"{WS}/Workflows/{{sid}}", workflows.delete_workflow, methods=["DELETE"]),
    Route(f"{WS}/Workflows/{{workflow_sid}}/Statistics", statistics.fetch_workflow_statistics, methods=["GET"]),
    Route(f"{WS}/Workflows/{{workflow_sid}}/RealTimeStatistics", statistics.fetch_workflow_real_time_statistics, methods=["GET"]),
    Route(f"{WS}/Workflows/{{workflow_sid}}/CumulativeStatistics", statistics.fetch_workflow_cumulative_statistics, methods=["GET"]),
    Route(f"{WS}/Tasks", tasks.list_task, methods=["GET"]),
    Route(f"{WS}/Tasks", tasks.create_task, methods=["POST"]),
    Route(f"{WS}/Tasks/{{sid}}", tasks.fetch_task, methods=["GET"]),
    Route(f"{WS}/Tasks/{{sid}}", tasks.update_task, methods=["POST"]),
    Route(f"{WS}/Tasks/{{sid}}", tasks.delete_task, methods=["DELETE"]),
    Route(f"{WS}/Tasks/{{task_sid}}/Reservations", reservations.list_task_reservation, methods=["GET"]),
    Route(f"{WS}/Tasks/{{task_sid}}/Reservations/{{sid}}", reservations.fetch_task_reservation, methods=["GET"]),
    Route(f"{WS}/Tasks/{{task_sid}}/Reservations/{{sid}}", reservations.update_task_reservation, methods=["POST"]),
    Route(f"{WS}/Events", events.list_event, methods=["GET"]),
    Route(f"{WS}/Events/{{sid}}", events.fetch_event, methods=["GET"]),
    Route("/switchboard/health", admin.health, methods=["GET"]),
    Route("/switchboard/clock", admin.fetch_clock, methods=["GET"]),
    Route("/switchboard/clock", admin.update_clock, methods=["POST"]),
    Route(f"/switchboard{WS}/Workers/{{worker_sid}}/Explain", admin.explain_worker, methods=["GET"]),
    Route(f"/switchboard{WS}/EventDelivery", admin.fetch_event_delivery, methods=["GET"]),
    Route(f"/switchboard{WS}/Reservations/{{sid}}/AssignmentCallback", admin.fetch_assignment_callback, methods=["GET"]),
]  # fmt: skip

# Starlette tries routes in order, and nearly all traffic is tasks, reservations and workers:
# those groups are tried first, so a lifecycle's requests match within a few patterns rather
# than after most of the table.
# The sort is stable, so each group keeps its literal-before-placeholder order, and groups
# differ in a literal segment, so no path can match routes of two groups.
_FIRST = (f"{WS}/Tasks", f"{WS}/Workers")


def _group(route: Route) -> int:
    for rank, prefix in enumerate(_FIRST):
        if route.path == prefix or route.path.startswith(prefix + "/"):
            return rank
    return len(_FIRST)


ROUTES = sorted(TABLE, key=_group)
