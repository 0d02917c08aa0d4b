"""The landing tables the ingest API writes, as observable source assets: the roots of the lineage."""

import warnings

import dagster as dg

from orchestration.shared.catalog import OWNERS, RAW
from orchestration.shared.keys import RAW_EVENTS, RAW_INGEST_ERRORS
from orchestration.shared.warehouse import WarehouseResource

LANDING_TABLES = {RAW_EVENTS: "raw.events", RAW_INGEST_ERRORS: "raw.ingest_errors"}


def observation(warehouse: WarehouseResource, key: dg.AssetKey) -> dg.ObserveResult:
    arrivals = warehouse.arrivals(LANDING_TABLES[key])
    newest = arrivals.newest.isoformat() if arrivals.newest else "none"
    return dg.ObserveResult(
        asset_key=key, data_version=dg.DataVersion(newest),
        metadata={"newest_arrival": newest, "approximate_rows": arrivals.approximate_rows},
    )


def landing_table(key: dg.AssetKey, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(key, description=description, group_name=RAW, owners=OWNERS, kinds={"postgres"},
                        metadata={"dagster/table_name": LANDING_TABLES[key]})


with warnings.catch_warnings():  # observable source assets are "beta" in Dagster 1.13, and say so at every import
    warnings.simplefilter("ignore", dg.BetaWarning)

    @dg.multi_observable_source_asset(name="landing_tables", can_subset=True, specs=[
        landing_table(RAW_EVENTS, "Every accepted event (written by the ingest API; partitioned by day)."),
        landing_table(RAW_INGEST_ERRORS, "Every refused event with its reason (written by the ingest API)."),
    ])
    def landing_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        for key in sorted(context.selected_asset_keys):
            yield observation(warehouse, key)
