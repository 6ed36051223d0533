"""Why the engine canceled a task, or a transfer failed, in TaskRouter's words: the `reason` a
task closes with and the `transfer_failed_reason` the worker SDK shows."""

TTL_EXCEEDED = "Task TTL Exceeded"
MAX_ASSIGNMENTS_EXCEEDED = "Max Assignment Count Exceeded"
WORKFLOW_TIMEOUT = "Workflow Timeout"
# TaskRouter's reason when a directly routed task could not be offered to its worker in time
# (the worker SDK's reservation.failed payload carries it).
ROUTING_TARGET_SLA_MISSED = "RoutingTarget SLA for Reservation creation was not met"
ROUTING_TARGET_DECLINED = "The RoutingTarget worker did not accept the Reservation"
# A transfer's failed reasons, as the worker SDK's OutgoingTransfer shows them.
TRANSFER_DECLINED = "Transfer failed because the reservation was {how}"
TRANSFER_ATTEMPT_DECLINED = (
    "Transfer attempt failed because the reservation was {how} and there are no more pending"
    " reservations"
)
