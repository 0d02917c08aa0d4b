"""The landing tables the ingest API writes, as observable source assets: the roots of the lineage."""

import warnings

import dagster as dg

from orchestration.ingest.warehouse import WarehouseResource


def observation(warehouse: WarehouseResource, table: str) -> dg.ObserveResult:
    arrivals = warehouse.arrivals(table)
    newest = arrivals.newest.isoformat() if arrivals.newest else "none"
    return dg.ObserveResult(
        data_version=dg.DataVersion(newest),
        metadata={"newest_arrival": newest, "approximate_rows": arrivals.approximate_rows},
    )


with warnings.catch_warnings():  # observable source assets are "beta" in Dagster 1.13, and say so at every import
    warnings.simplefilter("ignore", dg.BetaWarning)

    @dg.observable_source_asset(key=["raw", "events"], group_name="raw",
                                description="Every accepted event (written by the ingest API; partitioned by day).")
    def raw_events(warehouse: WarehouseResource) -> dg.ObserveResult:
        return observation(warehouse, "raw.events")

    @dg.observable_source_asset(key=["raw", "ingest_errors"], group_name="raw",
                                description="Every refused event with its reason (written by the ingest API).")
    def raw_ingest_errors(warehouse: WarehouseResource) -> dg.ObserveResult:
        return observation(warehouse, "raw.ingest_errors")
