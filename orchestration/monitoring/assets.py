"""The assets that measure the pipeline's health, each into monitoring.measurements and its own metadata; the
checks of checks.py judge them. Each reads a few catalog numbers or small tables, never raw.events itself."""

from datetime import datetime, timedelta

import dagster as dg

from orchestration.monitoring import measure
from orchestration.monitoring.api_metrics import fetch_metrics, histogram_buckets
from orchestration.monitoring.measure import StatementStats
from orchestration.monitoring.measurement_metadata import measured, unavailable
from orchestration.monitoring.readings import (
    connect,
    database_now,
    earliest_measurement,
    record_measurement,
    statement_stats,
    storage_by_schema,
    storage_size,
    window_traffic,
)
from orchestration.monitoring.resources import MonitoringResource
from orchestration.monitoring.thresholds import ERROR_RATE, EVENTS_PER_SECOND, QUERY_P95, STORAGE_GROWTH
from orchestration.shared.catalog import MONITORING, OWNERS
from orchestration.shared.keys import RAW_EVENTS, RAW_INGEST_ERRORS
from orchestration.shared.warehouse import WarehouseResource

#: The window traffic is measured over: the schedule's period, so that consecutive windows tile time.
WINDOW = timedelta(minutes=5)
STORAGE_BYTES = "storage_bytes"
#: Growth is measured against the oldest size within a day, and not before an hour of sizes is there: a shorter
#: span extrapolated to a day would turn the noise of one vacuum or new partition into gigabytes.
GROWTH_LOOKBACK = timedelta(days=1)
MIN_GROWTH_SPAN = timedelta(hours=1)

EVENTS_PER_SECOND_KEY = dg.AssetKey([MONITORING, "events_per_second"])
ERROR_RATE_KEY = dg.AssetKey([MONITORING, "error_rate"])
STORAGE_GROWTH_KEY = dg.AssetKey([MONITORING, "storage_growth"])
QUERY_P95_KEY = dg.AssetKey([MONITORING, "query_p95"])


@dg.asset(key=EVENTS_PER_SECOND_KEY, deps=[RAW_EVENTS], group_name=MONITORING, owners=OWNERS, kinds={"postgres"},
          description="Events landed per second over the last 5 minutes of arrivals, from the live counters.")
def events_per_second(warehouse: WarehouseResource) -> dg.MaterializeResult:
    with connect(warehouse.conninfo) as conn:
        traffic = window_traffic(conn, WINDOW)
        rate = measure.events_per_second(traffic.landed, WINDOW)
        record_measurement(conn, EVENTS_PER_SECOND.metric, traffic.measured_at, rate)
    return dg.MaterializeResult(metadata=measured(rate, traffic.measured_at, events_landed=traffic.landed,
                                                  window_seconds=int(WINDOW.total_seconds())))


@dg.asset(key=ERROR_RATE_KEY, deps=[RAW_EVENTS, RAW_INGEST_ERRORS], group_name=MONITORING, owners=OWNERS,
          kinds={"postgres"},
          description="The share of the events offered in the last 5 minutes that the door refused: refusals in "
                      "raw.ingest_errors over refusals plus events landed (duplicates are neither).")
def error_rate(warehouse: WarehouseResource) -> dg.MaterializeResult:
    with connect(warehouse.conninfo) as conn:
        traffic = window_traffic(conn, WINDOW)
        rate = measure.error_rate(traffic.refused, traffic.landed)
        record_measurement(conn, ERROR_RATE.metric, traffic.measured_at, rate)
    return dg.MaterializeResult(metadata=measured(rate, traffic.measured_at, events_refused=traffic.refused,
                                                  events_landed=traffic.landed,
                                                  window_seconds=int(WINDOW.total_seconds())))


def measure_storage_growth(conn, measured_at: datetime, size: int) -> dict:
    """Records the growth per day since the oldest size within GROWTH_LOOKBACK; its metadata, or why not yet."""
    details = {STORAGE_BYTES: size, "by_schema": dg.MetadataValue.md(
        "\n".join(["| schema | bytes |", "| --- | ---: |",
                   *(f"| {schema} | {schema_bytes:,} |" for schema, schema_bytes in storage_by_schema(conn))]))}
    before = earliest_measurement(conn, STORAGE_BYTES, measured_at, GROWTH_LOOKBACK)
    if before is None or measured_at - before[0] < MIN_GROWTH_SPAN:
        since = "none" if before is None else f"{(measured_at - before[0]).total_seconds() / 60:.0f} minutes"
        return unavailable(f"not enough history yet: sizes span {since}, growth needs {MIN_GROWTH_SPAN}",
                           measured_at, **details)
    growth = measure.growth_per_day(size, measured_at, before[1], before[0])
    record_measurement(conn, STORAGE_GROWTH.metric, measured_at, growth)
    return measured(growth, measured_at, compared_with=dg.MetadataValue.timestamp(before[0]), **details)


@dg.asset(key=STORAGE_GROWTH_KEY, group_name=MONITORING, owners=OWNERS, kinds={"postgres"},
          description="The database's size (pg_database_size, recorded as storage_bytes) and its growth in bytes "
                      "per day since the oldest size measured within the last day (after at least an hour).")
def storage_growth(warehouse: WarehouseResource) -> dg.MaterializeResult:
    with connect(warehouse.conninfo) as conn:
        measured_at, size = storage_size(conn)
        metadata = measure_storage_growth(conn, measured_at, size)
        record_measurement(conn, STORAGE_BYTES, measured_at, size)
    return dg.MaterializeResult(metadata=metadata)


def p95_from_statements(conn) -> tuple[float | None, dict | str]:
    """(p95 in ms of this database's statements, the metadata saying how), or (None, why not)."""
    stats = statement_stats(conn)
    if isinstance(stats, str):
        return None, stats
    p95 = measure.statements_p95_ms(stats)
    if p95 is None:
        return None, "pg_stat_statements has no statement yet"
    worst = max(stats, key=StatementStats.p95_ms)
    return p95, {"source": "pg_stat_statements", "statements": len(stats), "calls": sum(s.calls for s in stats),
                 "worst_statement_p95_ms": worst.p95_ms(), "worst_statement": worst.query}


def p95_from_api(url: str | None) -> tuple[float | None, dict | str]:
    """(p95 in ms of the API's own statement timings, the metadata saying how), or (None, why not)."""
    if url is None:
        return None, "no API address configured"
    try:
        text = fetch_metrics(url)
    except OSError as error:  # refused, timed out, HTTP error: the API is not there to ask
        return None, f"{url} did not answer: {error}"
    try:
        seconds = measure.histogram_quantile(0.95, histogram_buckets(text))
    except ValueError as error:  # something else answers at that address
        return None, f"{url} is not the API's Prometheus text: {error}"
    if seconds is None:
        return None, f"{url}: the API has timed no statement yet"
    return seconds * 1000, {"source": f"{url} (histogram_quantile over the API's statement timings since it started)"}


def find_query_p95(conn, api_metrics_url: str | None) -> tuple[float | None, dict | str]:
    """pg_stat_statements first, then the API's timings: (p95 in ms, the metadata saying how), or (None, why
    neither)."""
    p95, found = p95_from_statements(conn)
    if p95 is not None:
        return p95, found
    p95, from_api = p95_from_api(api_metrics_url)
    if p95 is None:
        return None, f"{found}; {from_api}"
    return p95, {**from_api, "pg_stat_statements": found}


@dg.asset(key=QUERY_P95_KEY, group_name=MONITORING, owners=OWNERS, kinds={"postgres"},
          description="The database's query p95 in ms: from pg_stat_statements where it is loaded (each statement "
                      "normal with its mean and stddev, mixed by calls), else the API's own statement timings "
                      "(GET /metrics), else unavailable.")
def query_p95(warehouse: WarehouseResource, monitoring: MonitoringResource) -> dg.MaterializeResult:
    with connect(warehouse.conninfo) as conn:
        measured_at = database_now(conn)
        p95, found = find_query_p95(conn, monitoring.api_metrics_url)
        if p95 is None:
            return dg.MaterializeResult(metadata=unavailable(found, measured_at))
        record_measurement(conn, QUERY_P95.metric, measured_at, p95)
    return dg.MaterializeResult(metadata=measured(p95, measured_at, **found))


MONITORING_ASSETS = [events_per_second, error_rate, storage_growth, query_p95]
