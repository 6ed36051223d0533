-- The routing engine: workflows, tasks, reservations, the event log and the callback outbox.
-- Deadlines are columns (reservation timeout, task TTL, a workflow target's step timeout);
-- the tick reads them in deadline order.

CREATE TABLE workflows (
    sid TEXT PRIMARY KEY,
    workspace_sid TEXT NOT NULL,
    account_sid TEXT NOT NULL,
    friendly_name TEXT NOT NULL,
    configuration TEXT NOT NULL,
    assignment_callback_url TEXT,
    fallback_assignment_callback_url TEXT,
    task_reservation_timeout INTEGER NOT NULL,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    change_seq BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX workflows_by_workspace ON workflows (workspace_sid, date_created, sid);

CREATE TABLE tasks (
    sid TEXT PRIMARY KEY,
    workspace_sid TEXT NOT NULL,
    account_sid TEXT NOT NULL,
    workflow_sid TEXT,
    task_channel_sid TEXT NOT NULL,
    attributes TEXT NOT NULL,
    assignment_status TEXT NOT NULL,
    priority BIGINT NOT NULL,
    timeout INTEGER NOT NULL,
    reason TEXT,
    addons TEXT,
    routing_target TEXT,
    ignore_capacity INTEGER,
    virtual_start_time BIGINT NOT NULL,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    -- When the task last reached completed or canceled (for retention), else NULL.
    date_closed BIGINT,
    version BIGINT NOT NULL,
    -- Where the workflow has the task: filter (-1 = default_filter) and target, the queue and
    -- when it entered it, and the deadline of that target (NULL = no timeout).
    filter_index INTEGER,
    target_index INTEGER,
    task_queue_sid TEXT,
    task_queue_entered_date BIGINT,
    step_deadline BIGINT,
    -- date_created + timeout while pending or reserved; NULL afterwards.
    ttl_deadline BIGINT,
    assignment_count INTEGER NOT NULL DEFAULT 0,
    change_seq BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX tasks_by_workspace ON tasks (workspace_sid, date_created, sid);
CREATE INDEX tasks_by_status ON tasks (workspace_sid, assignment_status);
CREATE INDEX tasks_by_change ON tasks (workspace_sid, change_seq);
CREATE INDEX tasks_by_ttl ON tasks (ttl_deadline);
CREATE INDEX tasks_by_step ON tasks (step_deadline);

CREATE TABLE reservations (
    sid TEXT PRIMARY KEY,
    workspace_sid TEXT NOT NULL,
    account_sid TEXT NOT NULL,
    task_sid TEXT NOT NULL,
    worker_sid TEXT NOT NULL,
    task_queue_sid TEXT,
    task_channel_sid TEXT NOT NULL,
    reservation_status TEXT NOT NULL,
    -- When a pending reservation times out; NULL once it is no longer pending.
    timeout_deadline BIGINT,
    worker_previous_activity_sid TEXT,
    -- The last instruction given (JSON: name and parameters), for events and inspection.
    instruction TEXT,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    version BIGINT NOT NULL,
    change_seq BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX reservations_by_task ON reservations (task_sid, date_created, sid);
CREATE INDEX reservations_by_worker ON reservations (worker_sid, date_created, sid);
CREATE INDEX reservations_by_change ON reservations (workspace_sid, change_seq);
CREATE INDEX reservations_by_timeout ON reservations (timeout_deadline);
CREATE INDEX reservations_open ON reservations (workspace_sid, reservation_status);

-- The event log: the /Events API, the source of cumulative statistics and the callback outbox.
-- (seq, ordinal) is the commit order: the workspace change number and the position in it.
CREATE TABLE events (
    sid TEXT PRIMARY KEY,
    workspace_sid TEXT NOT NULL,
    account_sid TEXT NOT NULL,
    seq BIGINT NOT NULL,
    ordinal INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    event_date BIGINT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_sid TEXT NOT NULL,
    actor_type TEXT,
    actor_sid TEXT,
    description TEXT NOT NULL,
    data TEXT NOT NULL,
    task_sid TEXT,
    worker_sid TEXT,
    reservation_sid TEXT,
    task_queue_sid TEXT,
    workflow_sid TEXT,
    task_channel_sid TEXT,
    source_ip_address TEXT
);
CREATE INDEX events_in_order ON events (workspace_sid, seq, ordinal);
CREATE INDEX events_by_date ON events (workspace_sid, event_date);

-- Assignment callbacks to send: one row per new reservation of a workflow with a URL.
CREATE TABLE assignment_callbacks (
    reservation_sid TEXT PRIMARY KEY,
    workspace_sid TEXT NOT NULL,
    due BIGINT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);
CREATE INDEX assignment_callbacks_due ON assignment_callbacks (state, due);
