-- Statistics: open tasks counted by status and priority, with the oldest creation (and queue
-- entry) of each group, read from an index rather than the table. Cumulative figures read
-- events through 0003's events_by_type and events_by_task.
CREATE INDEX tasks_stats_by_workspace
    ON tasks (workspace_sid, assignment_status, priority, date_created);
CREATE INDEX tasks_stats_by_queue
    ON tasks (task_queue_sid, assignment_status, priority, date_created, task_queue_entered_date);
