"""Great Expectations inside Dagster: the raw contracts check (with quarantine) as an asset between
raw.events and the staging models, and a blocking check per mart suite."""

from __future__ import annotations

import dagster as dg

from orchestration.quality.checks import validate_mart, validate_raw_events
from orchestration.quality.mart_rules import MART_SUITES, MartSuite
from orchestration.quality.validate import summary_metadata
from orchestration.shared.catalog import OWNERS, QUALITY
from orchestration.shared.keys import RAW_EVENTS, RAW_EVENTS_QUARANTINE, mart_quality_check
from orchestration.shared.warehouse import WarehouseResource


@dg.asset(key=RAW_EVENTS_QUARANTINE, deps=[RAW_EVENTS], group_name=QUALITY, owners=OWNERS,
          kinds={"great_expectations", "postgres"},
          description="Validates what landed in raw.events since the last run against the event contracts (GX)"
                      " and moves rows that break one to raw.ingest_errors (schema_mismatch), before staging.",
          check_specs=[
              dg.AssetCheckSpec("raw_events_contracts", asset=RAW_EVENTS_QUARANTINE, blocking=True,
                                description="No row left in raw.events breaks its contract (ERROR rules)."),
              dg.AssetCheckSpec("raw_events_warnings", asset=RAW_EVENTS_QUARANTINE,
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
    key = mart_quality_check(suite.name)

    @dg.asset_check(asset=key.asset_key, name=key.name, blocking=True,
                    description=f"GX suite {suite.name}: its ERROR rules block what is built from it.")
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        outcome = validate_mart(warehouse.conninfo, suite)
        return dg.AssetCheckResult(passed=not outcome.errors, severity=dg.AssetCheckSeverity.ERROR,
                                   metadata=summary_metadata(outcome))

    return _check


MART_CHECKS = [mart_check(suite) for suite in MART_SUITES]
