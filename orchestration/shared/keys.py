"""Asset keys, check keys and job names that cross a domain's border: one domain defines the thing, another
depends on it or launches it by this name."""

import dagster as dg

RAW_EVENTS = dg.AssetKey(["raw", "events"])
RAW_INGEST_ERRORS = dg.AssetKey(["raw", "ingest_errors"])
#: The contract check and quarantine between raw.events and the staging models (quality defines it, dbt waits).
RAW_EVENTS_QUARANTINE = dg.AssetKey(["quality", "raw_events_quarantine"])
#: What the arrivals sensor (ingest) launches: the quarantine, then the core dbt models.
REFRESH_CORE_MODELS = "refresh_core_models"


def mart_quality_check(mart: str) -> dg.AssetCheckKey:
    """The blocking GX check of marts.<mart> (quality defines it; what dbt builds from the mart waits for it)."""
    return dg.AssetCheckKey(dg.AssetKey(["marts", mart]), f"{mart}_quality")
