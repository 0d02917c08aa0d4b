"""Freshness checks on the marts (Dagster's own: a check fails when the mart's latest materialization is older than
its bound), the sensor that evaluates them when they are due, and what a failed one records as a check_breach."""

import warnings
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import dagster as dg

from orchestration.shared.check_records import AssetCheckExecutionRecord

#: The entity marts are rebuilt within a minute of new arrivals (the arrivals sensor): an hour without a build
#: means the pipeline stopped, or the games did.
ENTITY_MARTS_FRESH_WITHIN = timedelta(hours=1)
#: The rollups and the dashboard's views are rebuilt hourly by a schedule: one late run is tolerated.
HOURLY_MARTS_FRESH_WITHIN = timedelta(hours=2)


def mart_keys(assets: Iterable[dg.AssetsDefinition]) -> list[dg.AssetKey]:
    """The keys of these (dbt) assets that are marts, i.e. tables BI tools read: marts/<name>."""
    return sorted({key for asset in assets for key in asset.keys if key.path[0] == "marts"},
                  key=lambda key: key.to_user_string())


def mart_freshness_checks(entity_marts: Sequence[dg.AssetKey], hourly_marts: Sequence[dg.AssetKey]
                          ) -> list[dg.AssetChecksDefinition]:
    # superseded by FreshnessPolicy since 1.12, whose verdicts are no asset checks: the dashboard reads check results
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        return [*dg.build_last_update_freshness_checks(assets=list(entity_marts),
                                                       lower_bound_delta=ENTITY_MARTS_FRESH_WITHIN),
                *dg.build_last_update_freshness_checks(assets=list(hourly_marts),
                                                       lower_bound_delta=HOURLY_MARTS_FRESH_WITHIN)]


def mart_freshness_sensor(checks: Sequence[dg.AssetChecksDefinition]) -> dg.SensorDefinition:
    """Dagster's own sensor for freshness checks: a run of the checks that may have turned overdue since their last
    evaluation (it sets no run_key: it requests a check again only once the last evaluation is done)."""
    with warnings.catch_warnings():  # superseded with the checks it evaluates (see mart_freshness_checks)
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        return dg.build_sensor_for_freshness_checks(freshness_checks=list(checks), minimum_interval_seconds=60,
                                                    name="mart_freshness",
                                                    default_status=dg.DefaultSensorStatus.RUNNING)


#: The name Dagster gives every check build_last_update_freshness_checks makes.
FRESHNESS_CHECK = "freshness_check"
LAST_UPDATED = "dagster/last_updated_timestamp"
FRESHNESS_PARAMS = "dagster/freshness_params"


def freshness_breach(record: AssetCheckExecutionRecord) -> tuple[datetime, dict] | None:
    """(when, the check_breach event_data less asset and check) of a freshness evaluation that found a mart overdue;
    None when it passed, is not evaluated yet, or the mart was never built (nothing went stale: a new platform)."""
    evaluation = record.evaluation
    if not isinstance(evaluation, dg.AssetCheckEvaluation) or evaluation.passed:
        return None
    if LAST_UPDATED not in evaluation.metadata:
        return None
    evaluated_at = datetime.fromtimestamp(record.event.timestamp, UTC)
    age = record.event.timestamp - evaluation.metadata[LAST_UPDATED].value
    return evaluated_at, {
        "metric": "mart_age_seconds", "value": round(age, 3),
        "threshold": evaluation.metadata[FRESHNESS_PARAMS].value["lower_bound_delta_seconds"], "unit": "s",
        "severity": evaluation.severity.value, "description": (evaluation.description or "")[:1000],
        "measured_at": evaluated_at.isoformat(), "run_id": record.run_id}


def new_freshness_breaches(records: dict[dg.AssetCheckKey, AssetCheckExecutionRecord], seen: dict[str, int]
                           ) -> tuple[list[tuple[dg.AssetCheckKey, datetime, dict]], dict[str, int]]:
    """The breaches among the latest evaluations not seen before, and what is seen now (check -> record id; a
    record keeps its id from planned to evaluated, so only evaluated ones count as seen)."""
    breaches, now_seen = [], dict(seen)
    for key, record in records.items():
        name = key.to_user_string()
        if not isinstance(record.evaluation, dg.AssetCheckEvaluation) or seen.get(name) == record.id:
            continue
        now_seen[name] = record.id
        breach = freshness_breach(record)
        if breach:
            breaches.append((key, *breach))
    return breaches, now_seen
