"""The design's thresholds, each judged by one asset check of orchestration/monitoring/checks.py."""

from dataclasses import dataclass

import dagster as dg


@dataclass(frozen=True)
class Threshold:
    check: str  # the asset check's name (also in the check_breach event's id: short, [a-z_])
    metric: str  # monitoring.measurements.metric
    limit: float  # breached when the value exceeds it
    unit: str
    severity: dg.AssetCheckSeverity
    meaning: str  # the check's description in the UI


#: Refused events / events offered (landed + refused) over the measuring window.
ERROR_RATE = Threshold("error_rate", "error_rate", 0.01, "share", dg.AssetCheckSeverity.ERROR,
                       "Less than 1% of the events offered in the window were refused at the door.")
#: Bytes per day the database grew by, from successive storage measurements.
STORAGE_GROWTH = Threshold("storage_growth", "storage_growth_bytes_per_day", 1e9, "bytes/day",
                           dg.AssetCheckSeverity.WARN, "The database grows by less than 1 GB a day.")
#: The estimated 95th percentile of the database's statement durations.
QUERY_P95 = Threshold("query_p95", "query_p95_ms", 100.0, "ms", dg.AssetCheckSeverity.WARN,
                      "Database queries take less than 100 ms at p95.")
#: Informational: sustained traffic above what the design sized the platform for.
EVENTS_PER_SECOND = Threshold("events_per_second", "events_per_second", 1000.0, "events/s",
                              dg.AssetCheckSeverity.WARN,
                              "Informational: traffic over the window stays at or below 1000 events/s.")

THRESHOLDS = (EVENTS_PER_SECOND, ERROR_RATE, STORAGE_GROWTH, QUERY_P95)
