-- Deadlines and open reservations are a small part of their tables: most reservations are
-- closed and most tasks have no step deadline. Indexed only where they are set, a row that
-- leaves them (a reservation timing out, a task leaving its step) costs no index entry: on
-- PostgreSQL an update writes a new entry into every index whose condition the row meets,
-- and a burst of ten thousand timeouts updated ten thousand reservations.
-- The queries that read these indexes state the same conditions (storage/routing_rows.py).
DROP INDEX reservations_by_timeout;
CREATE INDEX reservations_by_timeout ON reservations (timeout_deadline)
    WHERE timeout_deadline IS NOT NULL;
DROP INDEX reservations_open;
CREATE INDEX reservations_open ON reservations (workspace_sid, reservation_status)
    WHERE reservation_status IN ('pending', 'accepted', 'wrapping');
DROP INDEX tasks_by_step;
CREATE INDEX tasks_by_step ON tasks (step_deadline) WHERE step_deadline IS NOT NULL;
DROP INDEX tasks_by_ttl;
CREATE INDEX tasks_by_ttl ON tasks (ttl_deadline) WHERE ttl_deadline IS NOT NULL;
