-- tasks_by_status (workspace_sid, assignment_status) is a prefix of tasks_stats_by_workspace
-- (workspace_sid, assignment_status, priority, ...), which serves every query it served; each
-- task status change rewrote both.
DROP INDEX tasks_by_status;
