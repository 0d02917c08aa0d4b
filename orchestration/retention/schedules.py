"""Daily, in order: the partition upkeep just after midnight UTC, the archive of every expired day (a run per
day), then the players' privacy and the housekeeping."""

from datetime import date

import dagster as dg
import psycopg

from orchestration.retention.archive_then_drop import CONNECT_TIMEOUT_SECONDS
from orchestration.retention.assets import EVENT_DAYS
from orchestration.retention.jobs import archive_expired_days, player_privacy_and_housekeeping, raw_events_upkeep
from orchestration.retention.policy import expired_family_days
from orchestration.retention.resources import RetentionResource
from orchestration.shared.warehouse import WarehouseResource


@dg.schedule(job=raw_events_upkeep, cron_schedule="5 0 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING)
def daily_raw_events_upkeep(context: dg.ScheduleEvaluationContext):
    return dg.RunRequest(run_key=f"upkeep-{context.scheduled_execution_time:%Y-%m-%d}")


def days_to_archive(conninfo: str, retention: RetentionResource, as_of: date) -> list[str]:
    """The partition keys of the UTC days holding a family day past its retention."""
    with psycopg.connect(conninfo, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True) as conn:
        expired = expired_family_days(conn, as_of, retention.policy())
    first = EVENT_DAYS.start.date()
    return sorted({day.isoformat() for _, day, _ in expired if day >= first})


@dg.schedule(job=archive_expired_days, cron_schedule="30 3 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING)
def daily_archive(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource,
                  retention: RetentionResource):
    tick = context.scheduled_execution_time
    days = days_to_archive(warehouse.conninfo, retention, tick.date())
    if not days:
        return dg.SkipReason(f"nothing past its retention as of {tick.date()}")
    # a run key per day and tick: a day that failed is asked for again the next day
    return [dg.RunRequest(run_key=f"archive-{day}-{tick:%Y%m%d}", partition_key=day) for day in days]


@dg.schedule(job=player_privacy_and_housekeeping, cron_schedule="30 4 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING)
def daily_player_privacy_and_housekeeping(context: dg.ScheduleEvaluationContext):
    return dg.RunRequest(run_key=f"privacy-{context.scheduled_execution_time:%Y-%m-%d}")
