-- Records what a replay made of each row of one chunk: replayed (outcome landed, or duplicate: the ledger
-- already held its event_id), or still refused (outcome null), with the reason and message of this attempt.
-- The original reason and detail stay as they were.
-- Parameters: marks, a JSON array of {error_id, outcome, reason, detail}; now, the time of the replay.
UPDATE raw.ingest_errors AS e
SET replayed_at        = CASE WHEN m.outcome IS NULL THEN NULL ELSE %(now)s::timestamptz END,
    replay_outcome     = m.outcome,
    last_replay_at     = CASE WHEN m.outcome IS NULL THEN %(now)s::timestamptz ELSE e.last_replay_at END,
    last_replay_reason = CASE WHEN m.outcome IS NULL THEN m.reason ELSE e.last_replay_reason END,
    last_replay_detail = CASE WHEN m.outcome IS NULL THEN m.detail ELSE e.last_replay_detail END
FROM json_to_recordset(%(marks)s::json) AS m(error_id bigint, outcome text, reason text, detail text)
WHERE e.error_id = m.error_id
  AND e.replayed_at IS NULL
