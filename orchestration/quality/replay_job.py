"""The Dagster job that replays refused and quarantined events: the same replay as `monkeytown errors
replay`, launched from the UI with its reason and dry-run as run config (no `from __future__ import
annotations` here: Dagster reads the config class from the annotation)."""

import dagster as dg

from ingest_api.replay import replay_errors
from orchestration.shared.warehouse import WarehouseResource


class ReplayConfig(dg.Config):
    reason: str | None = None  # only rows refused for this reason; all replayable reasons when empty
    dry_run: bool = False


@dg.op(description="Re-validates pending rows of raw.ingest_errors with the door's rules; lands what passes"
                   " now exactly once and leaves the rest with their reasons.")
def replay_refused_events(context: dg.OpExecutionContext, config: ReplayConfig, warehouse: WarehouseResource):
    report = replay_errors(warehouse.conninfo, reason=config.reason, dry_run=config.dry_run)
    for line in report.lines():
        context.log.info(line)
    total = report.total
    return dg.Output(None, metadata={
        "dry_run": config.dry_run, "examined": total.examined, "landed": total.landed,
        "already_stored": total.already_stored, "still_refused": dict(total.still_refused),
        "rollup_days_to_rebuild": sorted(day.isoformat() for day in report.days),
    })


@dg.job(description="Replays refused and quarantined events (config: reason, dry_run); the arrivals sensor"
                    " then brings what landed into the marts.")
def replay_refused_events_job():
    replay_refused_events()
