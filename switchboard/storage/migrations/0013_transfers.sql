-- Cold transfers of tasks (the worker SDK's Task.transfer, docs/worker-sdk.md). A task keeps
-- the SID of its latest transfer, so routing looks a transfer up only for a task that had one.
ALTER TABLE tasks ADD COLUMN transfer_sid TEXT;
CREATE TABLE transfers (
    sid TEXT PRIMARY KEY,
    workspace_sid TEXT NOT NULL,
    account_sid TEXT NOT NULL,
    task_sid TEXT NOT NULL,
    transfer_type TEXT NOT NULL,
    transfer_mode TEXT NOT NULL,
    transfer_to TEXT NOT NULL,
    transfer_status TEXT NOT NULL,
    transfer_failed_reason TEXT,
    initiating_reservation_sid TEXT NOT NULL,
    initiating_worker_sid TEXT NOT NULL,
    initiating_queue_sid TEXT,
    initiating_workflow_sid TEXT,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    change_seq BIGINT NOT NULL
);
CREATE INDEX transfers_task ON transfers (workspace_sid, task_sid);
-- The reservations a transfer offered (the worker SDK shows each its `task_transfer`).
CREATE TABLE transfer_reservations (
    reservation_sid TEXT PRIMARY KEY,
    workspace_sid TEXT NOT NULL,
    transfer_sid TEXT NOT NULL,
    change_seq BIGINT NOT NULL
);
CREATE INDEX transfer_reservations_transfer ON transfer_reservations (transfer_sid);
