"""The monitoring assets measure a real database and their checks judge it: a breach fails its check and lands as
a check_breach system event in raw.events; a healthy measurement passes and records nothing."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from orchestration.monitoring.assets import (
    STORAGE_BYTES,
    error_rate,
    events_per_second,
    query_p95,
    storage_growth,
)
from orchestration.monitoring.checks import MONITORING_CHECKS
from orchestration.monitoring.readings import connect, statement_stats
from tests.orchestration.monitoring.conftest import arrive, breaches, evaluation, measurements, run
from tests.servers import api_server, free_port

CHECKS = {next(iter(check.check_keys)).name: check for check in MONITORING_CHECKS}


@pytest.fixture
def instance():
    return dg.DagsterInstance.ephemeral()


def now() -> datetime:
    return datetime.now(UTC)


def test_a_refusal_rate_over_1_percent_fails_its_check_and_lands_as_a_check_breach(conn, monitoring_url, instance):
    arrive(conn, accepted=95, refused=5, received_at=now() - timedelta(minutes=1))
    arrive(conn, accepted=0, refused=50, received_at=now() - timedelta(minutes=20))  # before the window

    result = run(instance, monitoring_url, error_rate, CHECKS["error_rate"])

    check = evaluation(result, "error_rate")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert measurements(conn, "error_rate") == [pytest.approx(0.05)]
    (breach,) = breaches(conn)
    assert breach["check"] == "error_rate" and breach["asset"] == "monitoring/error_rate"
    assert breach["value"] == pytest.approx(0.05) and breach["threshold"] == 0.01 and breach["severity"] == "ERROR"
    assert breach["run_id"] == result.run_id


def test_a_healthy_error_rate_passes_and_records_no_system_event(conn, monitoring_url, instance):
    arrive(conn, accepted=200, refused=1, received_at=now() - timedelta(minutes=1))  # 0.5%

    result = run(instance, monitoring_url, error_rate, CHECKS["error_rate"])

    assert evaluation(result, "error_rate").passed
    assert measurements(conn, "error_rate") == [pytest.approx(1 / 201)]
    assert breaches(conn) == []


def test_a_breach_that_lasts_lands_once_an_hour(conn, monitoring_url, instance):
    arrive(conn, accepted=10, refused=10, received_at=now() - timedelta(seconds=30))
    first = run(instance, monitoring_url, error_rate, CHECKS["error_rate"])
    second = run(instance, monitoring_url, error_rate, CHECKS["error_rate"])
    assert not evaluation(first, "error_rate").passed and not evaluation(second, "error_rate").passed
    hours = {row[0] for row in conn.execute(
        "SELECT date_trunc('hour', measured_at) FROM monitoring.measurements WHERE metric = 'error_rate'")}
    assert len(breaches(conn)) == len(hours)  # 1, unless the hour turned between the two runs


def test_events_per_second_counts_the_last_five_minutes_of_arrivals(conn, monitoring_url, instance):
    arrive(conn, accepted=600, refused=0, received_at=now() - timedelta(minutes=2))
    arrive(conn, accepted=900, refused=0, received_at=now() - timedelta(minutes=6))  # before the window

    result = run(instance, monitoring_url, events_per_second, CHECKS["events_per_second"])

    assert evaluation(result, "events_per_second").passed  # 2/s is far below 1000/s
    assert measurements(conn, "events_per_second") == [pytest.approx(600 / 300)]
    assert breaches(conn) == []


def test_storage_growth_needs_an_hour_of_sizes_and_then_judges_bytes_per_day(conn, monitoring_url, instance):
    first = run(instance, monitoring_url, storage_growth, CHECKS["storage_growth"])
    assert evaluation(first, "storage_growth").passed  # nothing to compare with yet: no breach
    assert "not enough history" in evaluation(first, "storage_growth").description
    (size,) = measurements(conn, STORAGE_BYTES)
    assert size > 1_000_000  # a migrated database: its catalog alone is megabytes
    assert measurements(conn, "storage_growth_bytes_per_day") == []

    # two hours ago the database was 200 MB smaller: 2.4 GB a day
    conn.execute("INSERT INTO monitoring.measurements VALUES (%s, %s, %s)",
                 (STORAGE_BYTES, now() - timedelta(hours=2), size - 200e6))
    second = run(instance, monitoring_url, storage_growth, CHECKS["storage_growth"])

    check = evaluation(second, "storage_growth")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    (growth,) = measurements(conn, "storage_growth_bytes_per_day")
    assert growth == pytest.approx(2.4e9, rel=0.01)
    (breach,) = breaches(conn)
    assert breach["metric"] == "storage_growth_bytes_per_day" and breach["unit"] == "bytes/day"


def test_query_p95_is_unavailable_without_pg_stat_statements_or_an_api(conn, monitoring_url, instance):
    with connect(monitoring_url) as probe:
        if not isinstance(statement_stats(probe), str):
            pytest.skip("this server has pg_stat_statements loaded: the p95 comes from it")
    result = run(instance, monitoring_url, query_p95, CHECKS["query_p95"],
                 api_metrics_url=f"http://127.0.0.1:{free_port()}/metrics")

    check = evaluation(result, "query_p95")
    assert check.passed and "unavailable" in check.description and "did not answer" in check.description
    assert measurements(conn, "query_p95_ms") == []
    assert breaches(conn) == []


def test_query_p95_falls_back_to_the_apis_own_timings(conn, monitoring_url, instance, tmp_path):
    with connect(monitoring_url) as probe:
        if not isinstance(statement_stats(probe), str):
            pytest.skip("this server has pg_stat_statements loaded: the p95 comes from it")
    with api_server(monitoring_url, tmp_path / "home", workers=1) as api:
        for n in range(20):
            answer = api.post([{"event_id": f"p95-{n}", "type": "game_start", "game_id": f"g{n}",
                                "game_type": "chess", "session_id": f"s{n}"}])
            assert answer.status == 200
        result = run(instance, monitoring_url, query_p95, CHECKS["query_p95"], api_metrics_url=f"{api.url}/metrics")

    check = evaluation(result, "query_p95")
    (p95,) = measurements(conn, "query_p95_ms")
    assert 0 < p95 < 5_000  # the histogram's largest finite bound, in ms
    assert check.passed == (p95 <= 100)
    materialization = result.asset_materializations_for_node(query_p95.node_def.name)[0]
    assert str(materialization.metadata["source"].value).startswith(api.url)


def test_query_p95_comes_from_pg_stat_statements_where_the_server_preloads_it(conn, monitoring_url, instance):
    preloaded = conn.execute("SELECT 'pg_stat_statements' = ANY (string_to_array(replace("
                             "current_setting('shared_preload_libraries'), ' ', ''), ','))").fetchone()[0]
    if not preloaded:
        pytest.skip("this server does not preload pg_stat_statements (the embedded one ships without it)")
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    for n in range(100):
        conn.execute("SELECT count(*) FROM raw.events WHERE event_id = %s", (f"p95-{n}",))

    result = run(instance, monitoring_url, query_p95, CHECKS["query_p95"])

    materialization = result.asset_materializations_for_node(query_p95.node_def.name)[0]
    assert materialization.metadata["source"].value == "pg_stat_statements"
    assert materialization.metadata["calls"].value >= 100
    (p95,) = measurements(conn, "query_p95_ms")
    assert 0 < p95 <= materialization.metadata["worst_statement_p95_ms"].value
