"""Each failed run of the code location recorded as a run_failure system event (raw.events, then
marts.system_events), so that BI tools and the dashboard see failed runs beside the platform's other events. The
event's id comes from the run's: a tick retried after the database was down lands a duplicate, not a second event."""

import dagster as dg

from ingest_api.system_events import record_run_failure
from orchestration.shared.warehouse import WarehouseResource


def failed_steps(context: dg.RunFailureSensorContext) -> list[str]:
    return [event.step_key for event in context.get_step_failure_events() if event.step_key]


def failure_message(context: dg.RunFailureSensorContext) -> str:
    """The first line of the first failed step's innermost error (the op's own exception, not Dagster's wrapper
    around it), else of the run's failure."""
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None and error.cause is not None:
            error = error.cause
        if error is not None:
            return _first_line(error.message)
    return _first_line(context.failure_event.message or "the run failed")


def run_url_path(run_id: str) -> str:
    return f"/runs/{run_id}"


def _first_line(text: str) -> str:
    stripped = text.strip()
    return stripped.splitlines()[0] if stripped else "-"


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Records a run_failure system event for each failed run of this code location.")
def run_failures(context: dg.RunFailureSensorContext, warehouse: WarehouseResource):
    run = context.dagster_run
    record_run_failure(warehouse.conninfo, run.run_id, run.job_name, failed_steps(context), failure_message(context),
                       run_url_path(run.run_id))
