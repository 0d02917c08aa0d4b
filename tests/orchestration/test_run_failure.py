"""A failed Dagster run, evaluated by the run-failure sensor, is a run_failure system event in raw.events and, after
dbt, in marts.system_events; with it, every system event type the platform records reaches the mart."""

from datetime import UTC, datetime

import dagster as dg
import psycopg

from ingest_api.error_events import answered_error, error_event_data
from ingest_api.system_events import (
    record_config_change,
    record_server_stop,
    record_system_event,
    record_worker_restart,
)
from monkeytown.settings import load_settings
from monkeytown.settings_fingerprint import settings_fingerprint
from orchestration.monitoring.run_failure import run_failures
from orchestration.shared.warehouse import WarehouseResource
from tests.dbt.test_staging import monkeytown_dbt


@dg.op
def explode():
    raise RuntimeError("the op exploded\nwith a second line that is not kept")


@dg.job
def exploding_job():
    explode()


def failed_run(instance: dg.DagsterInstance) -> tuple[dg.ExecuteInProcessResult, dg.DagsterEvent]:
    result = exploding_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE]
    return result, failure


def test_a_failed_run_lands_once_and_reaches_marts_system_events(make_database):
    url = make_database()
    instance = dg.DagsterInstance.ephemeral()
    result, failure = failed_run(instance)
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failures", dagster_event=failure, dagster_instance=instance, dagster_run=result.dagster_run,
        resources={"warehouse": WarehouseResource(conninfo=url)}).for_run_failure()

    run_failures(context)
    run_failures(context)  # a retried tick
    # the other types the platform records about itself, through their own code, for the mart's tests to judge
    record_server_stop(url, "9.9.9", "SIGTERM")
    answered = answered_error("req-1", "GET", "/x", 500, "internal_error", ValueError("v"), datetime.now(UTC))
    record_system_event(url, "error", error_event_data(answered))
    record_config_change(url, settings_fingerprint(load_settings({"MONKEYTOWN_HOME": "/srv"}), b"k" * 16))
    record_worker_restart(url, 4242, "exited", 1)

    built = monkeytown_dbt(url, "build", "--select", "+system_events")

    assert built.returncode == 0, built.stdout[-3000:]
    with psycopg.connect(url) as conn:
        [(event_id, data)] = conn.execute("SELECT event_id, event_data FROM marts.system_events"
                                          " WHERE event_type = 'run_failure'").fetchall()
        types = {row[0] for row in conn.execute("SELECT event_type FROM marts.system_events")}
    assert event_id == f"run_failure-{result.run_id}"
    assert data == {"run_id": result.run_id, "job_name": "exploding_job", "step_keys": ["explode"],
                    "message": "RuntimeError: the op exploded", "run_url_path": f"/runs/{result.run_id}"}
    assert types == {"run_failure", "server_stop", "error", "config_change", "process_restart"}
