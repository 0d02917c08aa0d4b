"""New events in raw.events start a run of the core models, so they reach the marts within a minute."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import dagster as dg

from orchestration.shared.keys import REFRESH_CORE_MODELS
from orchestration.shared.warehouse import WarehouseResource

#: A run in these states has not read raw.events yet: a new arrival will be in it. A STARTED run may have
#: read already, so the next one is queued behind it (the run queue lets one core-models run at a time).
WAITING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]


@dataclass(frozen=True)
class Decision:
    run_key: str | None
    cursor: str | None
    skip_reason: str | None = None


def decide(cursor: str | None, newest_arrival: datetime | None, run_waiting: bool) -> Decision:
    """A run when something arrived after the cursor and no run is already waiting to start (that one will
    take it in; the cursor moves only with a request, so nothing is missed)."""
    if newest_arrival is None:
        return Decision(None, cursor, "raw.events is empty")
    newest = newest_arrival.isoformat()
    if cursor is not None and datetime.fromisoformat(cursor) >= newest_arrival:
        return Decision(None, cursor, f"nothing arrived after {cursor}")
    if run_waiting:
        return Decision(None, cursor, "a core models run waiting to start will take the new events in")
    return Decision(f"arrivals-up-to-{newest}", newest)


def core_models_run_waiting(instance: dg.DagsterInstance) -> bool:
    runs = instance.get_run_records(dg.RunsFilter(job_name=REFRESH_CORE_MODELS, statuses=WAITING), limit=1)
    return bool(runs)


@dg.sensor(job_name=REFRESH_CORE_MODELS, minimum_interval_seconds=10,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Starts refresh_core_models when events arrived in raw.events since the last request.")
def raw_events_arrivals(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    arrivals = warehouse.arrivals("raw.events")
    decision = decide(context.cursor, arrivals.newest, core_models_run_waiting(context.instance))
    if decision.run_key is None:
        return dg.SensorResult(skip_reason=decision.skip_reason, cursor=decision.cursor)
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=decision.run_key)], cursor=decision.cursor)
