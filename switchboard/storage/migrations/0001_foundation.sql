-- Accounts, workspaces and the resources a worker depends on.
-- Portable SQL: TEXT SIDs, BIGINT epoch-millisecond times, INTEGER 0/1 booleans, JSON as TEXT.
-- Every workspace-scoped row carries change_seq, the workspace's change counter at its last
-- write, so a routing index can read only what changed since it last looked.

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE accounts (
    sid TEXT PRIMARY KEY,
    auth_token TEXT NOT NULL,
    friendly_name TEXT NOT NULL,
    date_created BIGINT NOT NULL
);

CREATE TABLE api_keys (
    sid TEXT PRIMARY KEY,
    account_sid TEXT NOT NULL REFERENCES accounts (sid),
    secret_hash TEXT NOT NULL,
    friendly_name TEXT NOT NULL,
    date_created BIGINT NOT NULL
);

CREATE TABLE workspaces (
    sid TEXT PRIMARY KEY,
    account_sid TEXT NOT NULL,
    friendly_name TEXT NOT NULL,
    event_callback_url TEXT,
    events_filter TEXT,
    multi_task_enabled INTEGER NOT NULL,
    default_activity_sid TEXT,
    timeout_activity_sid TEXT,
    prioritize_queue_order TEXT NOT NULL,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    change_seq BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX workspaces_by_account ON workspaces (account_sid, date_created, sid);

CREATE TABLE activities (
    sid TEXT PRIMARY KEY,
    workspace_sid TEXT NOT NULL,
    account_sid TEXT NOT NULL,
    friendly_name TEXT NOT NULL,
    available INTEGER NOT NULL,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    change_seq BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX activities_by_workspace ON activities (workspace_sid, date_created, sid);

CREATE TABLE task_channels (
    sid TEXT PRIMARY KEY,
    workspace_sid TEXT NOT NULL,
    account_sid TEXT NOT NULL,
    friendly_name TEXT NOT NULL,
    unique_name TEXT NOT NULL,
    channel_optimized_routing INTEGER NOT NULL,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    change_seq BIGINT NOT NULL DEFAULT 0,
    UNIQUE (workspace_sid, unique_name)
);

CREATE TABLE task_queues (
    sid TEXT PRIMARY KEY,
    workspace_sid TEXT NOT NULL,
    account_sid TEXT NOT NULL,
    friendly_name TEXT NOT NULL,
    target_workers TEXT NOT NULL,
    max_reserved_workers INTEGER NOT NULL,
    task_order TEXT NOT NULL,
    reservation_activity_sid TEXT,
    assignment_activity_sid TEXT,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    change_seq BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX task_queues_by_workspace ON task_queues (workspace_sid, date_created, sid);

CREATE TABLE workers (
    sid TEXT PRIMARY KEY,
    workspace_sid TEXT NOT NULL,
    account_sid TEXT NOT NULL,
    friendly_name TEXT NOT NULL,
    -- Worker names are unique without regard to case; the database enforces it.
    name_key TEXT NOT NULL,
    activity_sid TEXT NOT NULL,
    attributes TEXT NOT NULL,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    date_status_changed BIGINT NOT NULL,
    version BIGINT NOT NULL,
    change_seq BIGINT NOT NULL DEFAULT 0,
    UNIQUE (workspace_sid, name_key)
);
CREATE INDEX workers_by_activity ON workers (workspace_sid, activity_sid);
CREATE INDEX workers_by_change ON workers (workspace_sid, change_seq);

CREATE TABLE worker_channels (
    sid TEXT PRIMARY KEY,
    workspace_sid TEXT NOT NULL,
    account_sid TEXT NOT NULL,
    worker_sid TEXT NOT NULL,
    task_channel_sid TEXT NOT NULL,
    configured_capacity INTEGER NOT NULL,
    available INTEGER NOT NULL,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    change_seq BIGINT NOT NULL DEFAULT 0,
    UNIQUE (worker_sid, task_channel_sid)
);
CREATE INDEX worker_channels_by_change ON worker_channels (workspace_sid, change_seq);

-- Deleted rows, so a routing index that catches up by change_seq also sees deletions.
CREATE TABLE tombstones (
    workspace_sid TEXT NOT NULL,
    change_seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    sid TEXT NOT NULL
);
CREATE INDEX tombstones_by_change ON tombstones (workspace_sid, change_seq);
