"""Dagster's view of the pipeline, copied from a real (ephemeral) instance into the monitoring tables the dashboard
reads: the latest result of every check across runs, each asset's latest materialization, the latest runs."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from orchestration.monitoring.assets import ERROR_RATE_KEY, EVENTS_PER_SECOND_KEY, error_rate, events_per_second
from orchestration.monitoring.checks import MONITORING_CHECKS
from orchestration.monitoring.pipeline_status import copy_pipeline_status, latest_check_rows
from orchestration.monitoring.sensors import pipeline_status
from tests.orchestration.monitoring.conftest import arrive, resources, run

CHECKS = {next(iter(check.check_keys)).name: check for check in MONITORING_CHECKS}
ERROR_RATE_CHECK = dg.AssetCheckKey(ERROR_RATE_KEY, "error_rate")
EVENTS_CHECK = dg.AssetCheckKey(EVENTS_PER_SECOND_KEY, "events_per_second")


@pytest.fixture
def instance():
    return dg.DagsterInstance.ephemeral()


def rows(conn, sql: str) -> list[tuple]:
    return conn.execute(sql).fetchall()


def test_the_latest_check_result_materialization_and_runs_are_copied(conn, monitoring_url, instance):
    arrive(conn, accepted=1, refused=1, received_at=datetime.now(UTC) - timedelta(minutes=1))  # 50% refused
    failed = run(instance, monitoring_url, error_rate, CHECKS["error_rate"])
    conn.execute("TRUNCATE raw.ingest_errors")  # fixed: nothing refused any more
    passed = run(instance, monitoring_url, error_rate, CHECKS["error_rate"])

    written = copy_pipeline_status(conn, instance, [ERROR_RATE_CHECK, EVENTS_CHECK], [ERROR_RATE_KEY,
                                                                                      EVENTS_PER_SECOND_KEY])

    assert written == (1, 1, 2)  # the events check never ran; that asset never materialized
    assert rows(conn, "SELECT asset, check_name, passed, severity, run_id FROM monitoring.latest_checks") == [
        ("monitoring/error_rate", "error_rate", True, "ERROR", passed.run_id)]
    (evaluated_at,) = rows(conn, "SELECT evaluated_at FROM monitoring.latest_checks")[0]
    assert datetime.now(UTC) - evaluated_at < timedelta(minutes=1)
    assert rows(conn, "SELECT asset, run_id FROM monitoring.latest_materializations") == [
        ("monitoring/error_rate", passed.run_id)]
    assert rows(conn, "SELECT run_id, job_name, status FROM monitoring.recent_runs ORDER BY started_at") == [
        (failed.run_id, "__ephemeral_asset_job__", "SUCCESS"), (passed.run_id, "__ephemeral_asset_job__", "SUCCESS")]
    assert all(start <= end for start, end in rows(conn, "SELECT started_at, ended_at FROM monitoring.recent_runs"))


def test_a_failed_check_is_copied_as_failed_with_its_description(conn, monitoring_url, instance):
    arrive(conn, accepted=1, refused=3, received_at=datetime.now(UTC) - timedelta(minutes=1))
    result = run(instance, monitoring_url, error_rate, CHECKS["error_rate"])

    (row,) = latest_check_rows(instance, [ERROR_RATE_CHECK])
    assert (row.passed, row.severity, row.run_id) == (False, "ERROR", result.run_id)
    assert row.description.startswith("0.75 share > 0.01 share")


def test_rows_of_checks_and_assets_no_longer_defined_are_forgotten(conn, monitoring_url, instance):
    conn.execute("INSERT INTO monitoring.latest_checks VALUES ('marts/gone', 'old_check', true, 'WARN', null, now(),"
                 " 'r1')")
    conn.execute("INSERT INTO monitoring.latest_materializations VALUES ('marts/gone', now(), 'r1')")
    conn.execute("INSERT INTO monitoring.recent_runs VALUES ('r1', 'some_job', 'SUCCESS', now(), now())")
    run(instance, monitoring_url, error_rate, CHECKS["error_rate"])

    copy_pipeline_status(conn, instance, [ERROR_RATE_CHECK], [ERROR_RATE_KEY])

    assert rows(conn, "SELECT asset FROM monitoring.latest_checks") == [("monitoring/error_rate",)]
    assert rows(conn, "SELECT asset FROM monitoring.latest_materializations") == [("monitoring/error_rate",)]
    assert [r[0] for r in rows(conn, "SELECT job_name FROM monitoring.recent_runs")] == ["__ephemeral_asset_job__"]


def test_the_sensor_copies_every_check_and_asset_of_the_code_location(conn, monitoring_url, instance):
    definitions = dg.Definitions(assets=[error_rate, events_per_second], asset_checks=MONITORING_CHECKS[:2],
                                 sensors=[pipeline_status], resources=resources(monitoring_url))
    job = definitions.resolve_implicit_global_asset_job_def()
    assert job.execute_in_process(instance=instance).success

    sensor = definitions.resolve_sensor_def("pipeline_status")
    with dg.build_sensor_context(instance=instance, definitions=definitions,
                                 resources=resources(monitoring_url)) as context:
        outcome = sensor(context)

    assert "copied 2 check results, 2 materializations and 1 runs" in outcome.skip_message
    assert sorted(rows(conn, "SELECT asset, check_name, passed FROM monitoring.latest_checks")) == [
        ("monitoring/error_rate", "error_rate", True), ("monitoring/events_per_second", "events_per_second", True)]
    assert sorted(r[0] for r in rows(conn, "SELECT asset FROM monitoring.latest_materializations")) == [
        "monitoring/error_rate", "monitoring/events_per_second"]
