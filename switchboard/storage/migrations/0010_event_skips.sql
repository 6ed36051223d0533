-- An event callback stream skips an event that failed too many times in a row: it counts
-- them and keeps a note of the last one (its SID, type and error) for /EventDelivery.
ALTER TABLE event_deliveries ADD COLUMN skipped BIGINT NOT NULL DEFAULT 0;
ALTER TABLE event_deliveries ADD COLUMN last_skipped TEXT;
