-- The event_data of the last config_change on record. source = 'server' keeps the scan to the system events'
-- own family tables (small: retention keeps them 30 days by default); the newest day partition comes first.
SELECT payload -> 'event_data'
FROM raw.events
WHERE source = 'server' AND type = 'config_change'
ORDER BY occurred_at DESC, received_at DESC
LIMIT 1
