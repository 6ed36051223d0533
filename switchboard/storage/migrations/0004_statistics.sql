-- Statistics: open tasks counted by status and priority, with the oldest creation (and queue
-- entry) of each group, read from an index rather than the table; the channel and workflow
-- columns let the TaskChannel filter and workflow figures stay inside the index too.
-- Cumulative figures read events through 0003's events_by_type and events_by_task.
CREATE INDEX tasks_stats_by_workspace ON tasks
    (workspace_sid, assignment_status, priority, date_created, task_channel_sid, workflow_sid);
CREATE INDEX tasks_stats_by_queue ON tasks
    (task_queue_sid, assignment_status, priority, date_created, task_queue_entered_date,
     task_channel_sid);
