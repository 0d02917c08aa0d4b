"""The asset checks that judge each measurement against its threshold (thresholds.py). A breach fails the check,
and lands as a check_breach system event in raw.events, from where it reaches marts.system_events."""

from dataclasses import dataclass

import dagster as dg

from ingest_api.system_events import record_check_breach
from orchestration.monitoring.assets import ERROR_RATE_KEY, EVENTS_PER_SECOND_KEY, QUERY_P95_KEY, STORAGE_GROWTH_KEY
from orchestration.monitoring.measurement_metadata import Reading, reading_of
from orchestration.monitoring.thresholds import ERROR_RATE, EVENTS_PER_SECOND, QUERY_P95, STORAGE_GROWTH, Threshold
from orchestration.shared.warehouse import WarehouseResource


@dataclass(frozen=True)
class Verdict:
    passed: bool
    description: str


def judge(threshold: Threshold, reading: Reading | None) -> Verdict:
    """Breached when the value exceeds the limit; nothing measured (yet) is no breach."""
    if reading is None:
        return Verdict(True, "not measured yet")
    if reading.value is None:
        return Verdict(True, f"unavailable: {reading.unavailable}")
    within = reading.value <= threshold.limit
    return Verdict(within, f"{reading.value:.6g} {threshold.unit} {'<=' if within else '>'} "
                           f"{threshold.limit:.6g} {threshold.unit}")


def latest_reading(instance: dg.DagsterInstance, asset: dg.AssetKey) -> Reading | None:
    """What the asset's latest materialization measured (in this run, when the run materialized it)."""
    event = instance.get_latest_materialization_event(asset)
    return reading_of(event.asset_materialization.metadata) if event else None


def breach_event_data(threshold: Threshold, reading: Reading, verdict: Verdict, run_id: str) -> dict:
    return {"metric": threshold.metric, "value": reading.value,
            "threshold": threshold.limit, "unit": threshold.unit, "severity": threshold.severity.value,
            "description": verdict.description, "measured_at": reading.measured_at.isoformat(), "run_id": run_id}


def threshold_check(asset: dg.AssetKey, threshold: Threshold) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset, name=threshold.check, description=threshold.meaning)
    def check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        reading = latest_reading(context.instance, asset)
        verdict = judge(threshold, reading)
        metadata = {"limit": threshold.limit, "unit": threshold.unit}
        if not verdict.passed:
            breach = record_check_breach(warehouse.conninfo, asset.to_user_string(), threshold.check,
                                         breach_event_data(threshold, reading, verdict, context.run.run_id),
                                         at=reading.measured_at)
            metadata["check_breach_event"] = breach.event_id
        return dg.AssetCheckResult(passed=verdict.passed, severity=threshold.severity,
                                   description=verdict.description, metadata=metadata)

    return check


MONITORING_CHECKS = [threshold_check(EVENTS_PER_SECOND_KEY, EVENTS_PER_SECOND),
                     threshold_check(ERROR_RATE_KEY, ERROR_RATE),
                     threshold_check(STORAGE_GROWTH_KEY, STORAGE_GROWTH),
                     threshold_check(QUERY_P95_KEY, QUERY_P95)]
