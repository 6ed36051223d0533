-- The Events API's filters and the event callback streams.
--
-- Lists read newest first by (event_date, seq, ordinal) inside a date window, so each filter
-- has an index that starts with the filtered column and ends with that ordering. The filter
-- indexes are partial: most events leave most of those columns NULL.

DROP INDEX events_by_date;
CREATE INDEX events_by_time ON events (workspace_sid, event_date, seq, ordinal);
CREATE INDEX events_by_type ON events (workspace_sid, event_type, event_date, seq, ordinal);
CREATE INDEX events_by_task ON events (workspace_sid, task_sid, event_date, seq, ordinal)
    WHERE task_sid IS NOT NULL;
CREATE INDEX events_by_worker ON events (workspace_sid, worker_sid, event_date, seq, ordinal)
    WHERE worker_sid IS NOT NULL;
CREATE INDEX events_by_reservation
    ON events (workspace_sid, reservation_sid, event_date, seq, ordinal)
    WHERE reservation_sid IS NOT NULL;
CREATE INDEX events_by_task_queue
    ON events (workspace_sid, task_queue_sid, event_date, seq, ordinal)
    WHERE task_queue_sid IS NOT NULL;
CREATE INDEX events_by_workflow ON events (workspace_sid, workflow_sid, event_date, seq, ordinal)
    WHERE workflow_sid IS NOT NULL;
CREATE INDEX events_by_task_channel
    ON events (workspace_sid, task_channel_sid, event_date, seq, ordinal)
    WHERE task_channel_sid IS NOT NULL;
-- Pruning past the retention period looks across every workspace by age.
CREATE INDEX events_by_age ON events (event_date);

-- One event callback stream per workspace that has (or had) an EventCallbackUrl.
-- url and events_filter follow the workspace in the same transaction as its update, and
-- outlive it: a deleted workspace's stream delivers workspace.deleted, then is dropped.
-- (cursor_seq, cursor_ordinal) is the last event delivered or skipped: delivery resumes
-- after it, in commit order. Times here are wall-clock epoch ms (the network's time), not the
-- engine clock. lease_owner/lease_until: the process delivering the stream; another process
-- takes it over only once the lease has run out.
CREATE TABLE event_deliveries (
    workspace_sid TEXT PRIMARY KEY,
    account_sid TEXT NOT NULL,
    url TEXT,
    events_filter TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    cursor_seq BIGINT NOT NULL,
    cursor_ordinal BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt BIGINT NOT NULL DEFAULT 0,
    delivered BIGINT NOT NULL DEFAULT 0,
    last_delivered BIGINT,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX event_deliveries_due ON event_deliveries (next_attempt);

-- Workspaces that already had a URL start their stream now: what happened before this
-- migration was never going to be sent.
INSERT INTO event_deliveries (workspace_sid, account_sid, url, events_filter, cursor_seq,
    cursor_ordinal)
SELECT sid, account_sid, event_callback_url, events_filter, change_seq, 2147483647
FROM workspaces WHERE event_callback_url IS NOT NULL AND event_callback_url <> '';
