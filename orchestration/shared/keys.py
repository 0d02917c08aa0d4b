"""Asset keys, check keys and job names that cross a domain's border: one domain defines the thing, another
depends on it or launches it by this name."""

import dagster as dg

RAW_EVENTS = dg.AssetKey(["raw", "events"])
RAW_INGEST_ERRORS = dg.AssetKey(["raw", "ingest_errors"])
#: The contract check and quarantine between raw.events and the staging models (quality defines it, dbt waits).
RAW_EVENTS_QUARANTINE = dg.AssetKey(["quality", "raw_events_quarantine"])
#: The first UTC day of every daily partitions definition (rollups, archived days): before the first event.
FIRST_DAY = "2026-01-01"
#: Run tags: the daemon retries a failed run from its failed step, twice (instance run_retries).
RETRIED = {"dagster/max_retries": "2", "dagster/retry_strategy": "FROM_FAILURE"}
#: Run tags: a run that merges or rewrites the core marts; the run queue lets one such run at a time.
MARTS_WRITER = {"monkeytown/writes": "core_models"}
#: Run tags: the core run goes first in the run queue, and every other job runs in the background lane, one run at
#: a time, so a slot is always left for the core run that brings new events into the marts.
FOLLOWS_NEW_DATA = {"dagster/priority": "10"}
BACKGROUND = {"monkeytown/lane": "background"}
#: What the arrivals sensor (ingest) launches: the quarantine, then the core dbt models.
REFRESH_CORE_MODELS = "refresh_core_models"


def mart_quality_check(mart: str) -> dg.AssetCheckKey:
    """The blocking GX check of marts.<mart> (quality defines it; what dbt builds from the mart waits for it)."""
    return dg.AssetCheckKey(dg.AssetKey(["marts", mart]), f"{mart}_quality")
