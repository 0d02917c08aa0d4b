"""The API's own database timings, read over HTTP from its Prometheus endpoint (GET /metrics, ingest_api/metrics.py):
where pg_stat_statements cannot answer, they are the next best measure of query latency."""

import urllib.request
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

DB_QUERY_HISTOGRAM = "monkeytown_db_query_duration_seconds"
#: The API answers /metrics in milliseconds; one that does not within this is as good as absent.
HTTP_TIMEOUT_SECONDS = 3


def fetch_metrics(url: str) -> str:
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_SECONDS) as response:
        return response.read().decode("utf-8")


def histogram_buckets(text: str, name: str = DB_QUERY_HISTOGRAM) -> list[tuple[float, float]]:
    """The cumulative (upper bound, count) buckets of histogram `name`, summed over its other labels (the API's
    statements, and its workers already summed by the endpoint)."""
    counts: dict[float, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                counts[float(sample.labels["le"])] += sample.value
    return sorted(counts.items())
