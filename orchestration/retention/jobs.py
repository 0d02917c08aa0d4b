"""Retention's jobs: the partition upkeep, the archive of one UTC day per run, and the players' privacy with the
platform's housekeeping. None runs beside another, nor beside a run that merges the core marts (the run queue's
tag limit in orchestration/instance.py)."""

import dagster as dg

from orchestration.retention.assets import ARCHIVED_EVENT_DAYS, PLATFORM_HISTORY, PLAYER_PRIVACY, RAW_EVENTS_DAYS
from orchestration.shared.keys import BACKGROUND, MARTS_WRITER, RETRIED

#: Each rewrites raw.events and the marts, so takes the run queue's one slot of a core-model merge; each is
#: idempotent, so a failed run is retried.
REWRITES = RETRIED | MARTS_WRITER | BACKGROUND

raw_events_upkeep = dg.define_asset_job(
    "raw_events_upkeep", selection=dg.AssetSelection.assets(RAW_EVENTS_DAYS), tags=BACKGROUND,
    description="Makes the coming week's partitions of raw.events and shows which days PostgreSQL and the archive "
                "hold, with the guard for days out of range.",
)

archive_expired_days = dg.define_asset_job(
    "archive_expired_days", selection=dg.AssetSelection.assets(ARCHIVED_EVENT_DAYS), tags=REWRITES,
    description="Archives, proves and drops one UTC day of raw.events for each family past its retention.",
)

player_privacy_and_housekeeping = dg.define_asset_job(
    "player_privacy_and_housekeeping", selection=dg.AssetSelection.assets(PLAYER_PRIVACY, PLATFORM_HISTORY),
    tags=REWRITES,
    description="Anonymizes and deletes inactive players, then prunes the platform's own history.",
)
