-- A btree on received_at instead of the BRIN: the pipeline asks for the newest arrival every few seconds
-- (max() walks each partition's index backwards) and incremental models read a recent arrival range.
DROP INDEX raw.events_received_at_idx;
CREATE INDEX events_received_at_idx ON raw.events (received_at);
