-- The GitHub webhook deliveries the API has handled, by their X-GitHub-Delivery id: GitHub sends a redelivery with
-- the same id, and a delivery found here has no second effect. Written after what the delivery landed (its agent
-- run) is committed, so a failure in between leaves a redelivery to land it, and the agent run's own event_id makes
-- that landing a duplicate. In schema raw, which monkeytown_bi cannot read (0002_bi_role.sql grants only marts).

CREATE TABLE raw.github_deliveries (
    delivery_id text        PRIMARY KEY,
    event       text        NOT NULL,
    action      text,
    hook_id     text,
    event_id    text,
    received_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE raw.github_deliveries IS
    'One row per GitHub webhook delivery handled (POST /api/webhooks/github); a redelivery of one is a duplicate.';
COMMENT ON COLUMN raw.github_deliveries.delivery_id IS 'X-GitHub-Delivery: the GUID GitHub keeps on a redelivery.';
COMMENT ON COLUMN raw.github_deliveries.event IS 'X-GitHub-Event, e.g. workflow_run or ping.';
COMMENT ON COLUMN raw.github_deliveries.action IS 'The payload''s action (completed, requested, in_progress), if any.';
COMMENT ON COLUMN raw.github_deliveries.hook_id IS 'X-GitHub-Hook-ID: the webhook that sent it.';
COMMENT ON COLUMN raw.github_deliveries.event_id IS
    'The raw.events row the delivery landed (agent_run:github-<run id>-<attempt>); null when it landed nothing.';
