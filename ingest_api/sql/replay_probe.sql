-- A dry run's stand-in for landing: which of these distinct event_ids would land, i.e. are neither in the
-- ledger nor claimed earlier in this dry run (the temporary table replay_claims, gone with its transaction).
-- Parameter: event_ids, a text array without repeats.
INSERT INTO pg_temp.replay_claims (event_id)
SELECT t.event_id
FROM unnest(%(event_ids)s::text[]) AS t(event_id)
WHERE NOT EXISTS (SELECT FROM raw.event_ids AS e WHERE e.event_id = t.event_id)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
