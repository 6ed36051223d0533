-- Every event is written with the change that made it, so each index on `events` is paid on
-- every write: a task's life writes about a dozen events, and with eleven indexes the event
-- log was most of the write cost (bench/routing.py). Keep the indexes that lists, statistics
-- and delivery seek with; the rarer filters (reservation, workflow, task channel) read the
-- date window through events_by_time, and pruning walks it per workspace.
DROP INDEX events_by_age;
DROP INDEX events_by_reservation;
DROP INDEX events_by_workflow;
DROP INDEX events_by_task_channel;
