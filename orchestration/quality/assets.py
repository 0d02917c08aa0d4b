"""Great Expectations inside Dagster: the raw contracts check (with quarantine) as an asset between
raw.events and the staging models, and a blocking check per mart suite."""

from __future__ import annotations

import dagster as dg

from orchestration.ingest.warehouse import WarehouseResource
from orchestration.quality.checks import validate_mart, validate_raw_events
from orchestration.quality.mart_rules import MART_SUITES, MartSuite
from orchestration.quality.validate import summary_metadata

QUARANTINE_KEY = dg.AssetKey(["quality", "raw_events_quarantine"])


@dg.asset(key=QUARANTINE_KEY, deps=[dg.AssetKey(["raw", "events"])], group_name="quality",
          description="Validates what landed in raw.events since the last run against the event contracts (GX)"
                      " and moves rows that break one to raw.ingest_errors (schema_mismatch), before staging.",
          check_specs=[
              dg.AssetCheckSpec("raw_events_contracts", asset=QUARANTINE_KEY, blocking=True,
                                description="No row left in raw.events breaks its contract (ERROR rules)."),
              dg.AssetCheckSpec("raw_events_warnings", asset=QUARANTINE_KEY,
                                description="WARN rules, and rows quarantined in this run."),
          ])
def raw_events_quarantine(warehouse: WarehouseResource):
    validation = validate_raw_events(warehouse.conninfo)
    quarantined = sum(validation.quarantined.values())
    found = summary_metadata(validation.found)
    yield dg.MaterializeResult(metadata={"rows_validated": validation.found.rows, "quarantined": quarantined,
                                         "quarantined_by_rule": validation.quarantined})
    yield dg.AssetCheckResult(check_name="raw_events_contracts", passed=not validation.remaining.errors,
                              severity=dg.AssetCheckSeverity.ERROR,
                              metadata=summary_metadata(validation.remaining))
    yield dg.AssetCheckResult(check_name="raw_events_warnings",
                              passed=not validation.found.warnings and not quarantined,
                              severity=dg.AssetCheckSeverity.WARN,
                              metadata={**found, "quarantined_by_rule": validation.quarantined})


def mart_check(suite: MartSuite) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=dg.AssetKey(["marts", suite.name]), name=f"{suite.name}_quality", blocking=True,
                    description=f"GX suite {suite.name}: its ERROR rules block what is built from it.")
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        outcome = validate_mart(warehouse.conninfo, suite)
        return dg.AssetCheckResult(passed=not outcome.errors, severity=dg.AssetCheckSeverity.ERROR,
                                   metadata=summary_metadata(outcome))

    return _check


MART_CHECKS = [mart_check(suite) for suite in MART_SUITES]


def blocking_checks_failed(instance: dg.DagsterInstance, check_keys: list[dg.AssetCheckKey]) -> list[str]:
    """The checks among these whose latest evaluation failed (in any run): what builds on them waits."""
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    return [key.to_user_string() for key, record in latest.items() if record.status.value == "FAILED"]
