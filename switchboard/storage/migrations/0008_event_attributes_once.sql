-- Task and worker attributes were copied into the data of every event about them: about half
-- of each event row, written again by each of a task's dozen events and by every event of a
-- worker. Each distinct attributes text is now stored once per workspace, under a digest,
-- and events refer to it (storage/event_attributes.py). Events written before keep their
-- copies inline and no reference.
CREATE TABLE event_attributes (
    digest TEXT PRIMARY KEY,
    attributes TEXT NOT NULL,
    -- The latest event moment (engine clock) a writer vouched for this row; pruning removes
    -- rows no retained event can refer to.
    last_used BIGINT NOT NULL
);
CREATE INDEX event_attributes_by_use ON event_attributes (last_used);
ALTER TABLE events ADD COLUMN task_attributes_digest TEXT;
ALTER TABLE events ADD COLUMN worker_attributes_digest TEXT;
