"""Retention in Dagster's catalog: which days raw.events and the archive hold (with the partition upkeep and the
out-of-range guard), the archive one UTC day per partition, the players' privacy, and the platform's history."""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import psycopg

from orchestration.retention.apply import apply_player_policy, prune_platform_history
from orchestration.retention.archive_then_drop import CONNECT_TIMEOUT_SECONDS, DayOutcome, archive_then_drop
from orchestration.retention.resources import RetentionResource
from orchestration.retention.safety import failed_blocking_checks, refuse_when_checks_failed
from orchestration.retention.upkeep import FamilyDayState, days_out_of_range, ensure_coming_days, family_day_states
from orchestration.shared.catalog import OWNERS, RETENTION
from orchestration.shared.keys import FIRST_DAY, RAW_EVENTS
from orchestration.shared.warehouse import WarehouseResource

EVENT_DAYS = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC")
RAW_EVENTS_DAYS = dg.AssetKey(["retention", "raw_events_days"])
ARCHIVED_EVENT_DAYS = dg.AssetKey(["retention", "archived_event_days"])
PLAYER_PRIVACY = dg.AssetKey(["retention", "player_privacy"])
PLATFORM_HISTORY = dg.AssetKey(["retention", "platform_history"])
DAYS_IN_RANGE = "days_in_range"

_STATE_COLUMNS = dg.TableSchema(columns=[
    dg.TableColumn("day", "string"), dg.TableColumn("family", "string", description="client, server, ci, default"),
    dg.TableColumn("state", "string"), dg.TableColumn("rows_in_postgres", "int"),
    dg.TableColumn("rows_archived", "int"),
])


def today() -> date:
    return datetime.now(UTC).date()


def states_table(states: list[FamilyDayState]) -> dg.TableMetadataValue:
    return dg.MetadataValue.table(schema=_STATE_COLUMNS, records=[
        dg.TableRecord({"day": s.day.isoformat(), "family": s.family, "state": s.state,
                        "rows_in_postgres": s.rows_in_postgres, "rows_archived": s.rows_archived})
        for s in reversed(states)])


@dg.asset(key=RAW_EVENTS_DAYS, deps=[RAW_EVENTS], group_name=RETENTION, owners=OWNERS, kinds={"postgres"},
          check_specs=[dg.AssetCheckSpec(DAYS_IN_RANGE, asset=RAW_EVENTS_DAYS, description=(
              "No family day is past its retention by more than a day (the archive job is behind) and none is "
              "beyond what the door accepts ahead of now."))],
          description="The UTC days of raw.events per family (client game events, server system events, ci agent "
                      "runs): which are in PostgreSQL and which archived. Materializing it makes the coming week's "
                      "partitions ahead of time.")
def raw_events_days(warehouse: WarehouseResource, retention: RetentionResource):
    now = today()
    with psycopg.connect(warehouse.conninfo, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True) as conn:
        made = ensure_coming_days(conn, now)
        states = family_day_states(conn, retention.store())
    out_of_range = days_out_of_range(states, now, retention.policy())
    yield dg.MaterializeResult(metadata={
        "days": states_table(states),
        "partitions_made_ahead": ", ".join(day.isoformat() for day in made) or "none (already there)",
        "family_days_in_postgres": sum(1 for s in states if s.rows_in_postgres is not None),
        "family_days_archived": sum(1 for s in states if s.rows_archived is not None),
        "archive": retention.archive_url,
    })
    yield dg.AssetCheckResult(
        check_name=DAYS_IN_RANGE, passed=out_of_range.ok, severity=dg.AssetCheckSeverity.WARN,
        metadata={"overdue": ", ".join(f"{f} {d} ({n} rows)" for f, d, n in out_of_range.overdue) or "none",
                  "too_far_ahead": ", ".join(f"{f} {d} ({n} rows)" for f, d, n in out_of_range.too_far_ahead)
                  or "none"})


def expired_families(retention: RetentionResource, day: date, as_of: date) -> list[str]:
    policy = retention.policy()
    return [family for family in policy.days_to_keep() if policy.is_expired(family, day, as_of)]


def outcome_metadata(outcomes: list[DayOutcome]) -> dict:
    metadata: dict = {"rows": sum(outcome.rows for outcome in outcomes),
                      "bytes": sum(outcome.bytes or 0 for outcome in outcomes)}
    for outcome in outcomes:
        metadata[outcome.family] = outcome.line()
        if outcome.archive_object:
            metadata[f"{outcome.family}_object"] = dg.MetadataValue.url(outcome.archive_object)
    return metadata


def guarded_assets(blocking_checks: Sequence[dg.AssetCheckKey]) -> list[dg.AssetsDefinition]:
    """The assets that archive, drop, anonymize and delete, each refusing to start while the latest run of one of
    `blocking_checks` (the code location's, orchestration/definitions.py) failed."""

    def refuse_if_checks_failed(instance: dg.DagsterInstance) -> None:
        refuse_when_checks_failed(failed_blocking_checks(instance, list(blocking_checks)))

    @dg.asset(key=ARCHIVED_EVENT_DAYS, partitions_def=EVENT_DAYS, deps=[RAW_EVENTS_DAYS], group_name=RETENTION,
              owners=OWNERS, kinds={"parquet", "s3"},
              description="One UTC day of raw.events per partition, for each family past its retention: archived as "
                          "zstd Parquet with a manifest, read back and proven equal to the rows PostgreSQL holds, then "
                          "dropped. A rerun skips what is done and finishes what a crash left half way.")
    def archived_event_days(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                            retention: RetentionResource) -> dg.MaterializeResult:
        day = date.fromisoformat(context.partition_key)
        refuse_if_checks_failed(context.instance)
        families = expired_families(retention, day, today())
        if not families:
            kept = min(retention.policy().days_to_keep().values())
            raise dg.Failure(f"nothing on {day} is past its retention yet: the shortest keeps it until "
                             f"{day + timedelta(days=kept + 1)}")
        store = retention.store()
        outcomes = [archive_then_drop(warehouse.conninfo, store, family, day) for family in families]
        for outcome in outcomes:
            context.log.info(outcome.line())
        return dg.MaterializeResult(metadata=outcome_metadata(outcomes))

    @dg.asset(key=PLAYER_PRIVACY, deps=[ARCHIVED_EVENT_DAYS], group_name=RETENTION, owners=OWNERS,
              kinds={"postgres"},
              description="Players without activity past the policy: their session id and player id replaced by a "
                          "keyed hash in raw.events and every mart (joins and counts hold; a game's winner follows), "
                          "and after a year deleted. Runs only when every expired day is archived and dropped.")
    def player_privacy(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                       retention: RetentionResource) -> dg.MaterializeResult:
        refuse_if_checks_failed(context.instance)
        outcomes = apply_player_policy(warehouse.conninfo, retention.anonymization_key(), today(),
                                       retention.policy())
        for outcome in outcomes:
            context.log.info(outcome.line())
        return dg.MaterializeResult(metadata={outcome.action: outcome.players for outcome in outcomes})

    return [archived_event_days, player_privacy]


@dg.asset(key=PLATFORM_HISTORY, group_name=RETENTION, owners=OWNERS, kinds={"dagster", "python"},
          description="The platform's own history older than MONKEYTOWN_PRUNE_HISTORY_DAYS pruned: Great Expectations "
                      "validation results, Dagster run and tick history, log files under MONKEYTOWN_HOME.")
def platform_history(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                     retention: RetentionResource) -> dg.MaterializeResult:
    outcomes = prune_platform_history(warehouse.conninfo, Path(retention.home), context.instance, today(),
                                      retention.policy())
    return dg.MaterializeResult(metadata={outcome.what: outcome.line() for outcome in outcomes})
