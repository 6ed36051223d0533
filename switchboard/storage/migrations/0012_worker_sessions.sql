-- Presence of the worker SDK's websockets, shared by every process on one database.
-- A process renews its own row while it runs; its sessions live as long as that row does, so
-- a killed process's sessions lapse without anyone closing them. A closed session keeps its
-- row until `expires` (the grace period in which the agent may reconnect), then whoever
-- sweeps first deletes it and, when it was its worker's last, sets the worker Offline.
CREATE TABLE realtime_processes (
    id TEXT PRIMARY KEY,
    expires BIGINT NOT NULL
);
CREATE TABLE worker_sessions (
    id TEXT PRIMARY KEY,
    process_id TEXT NOT NULL,
    workspace_sid TEXT NOT NULL,
    worker_sid TEXT NOT NULL,
    offline_if_disconnected INTEGER NOT NULL,
    -- Set by another session's closeExistingSessions: the holding process closes it.
    ending INTEGER NOT NULL DEFAULT 0,
    -- NULL while open (alive with its process); the end of the grace period once closed.
    expires BIGINT
);
CREATE INDEX worker_sessions_worker ON worker_sessions (workspace_sid, worker_sid);
CREATE INDEX worker_sessions_process ON worker_sessions (process_id, ending);
