"""The Dagster code location (workspace.yaml loads this module)."""

import dagster as dg

raw_events = dg.AssetSpec(
    key=dg.AssetKey(["raw", "events"]),
    description="Events landed by the ingest API (POST /api/events), partitioned by day of occurred_at.",
    group_name="raw",
    kinds={"postgres"},
)

defs = dg.Definitions(assets=[raw_events])
