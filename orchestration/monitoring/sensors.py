"""Every minute, Dagster's view of the pipeline copied into the monitoring tables the dashboard reads, and the
marts found overdue announced as check_breach system events. Sensors, not assets: they launch no run (a run a
minute would fill the run history they report), and read the instance."""

import json

import dagster as dg

from ingest_api.system_events import record_check_breach
from orchestration.monitoring.freshness import FRESHNESS_CHECK, new_freshness_breaches
from orchestration.monitoring.pipeline_status import copy_pipeline_status
from orchestration.monitoring.readings import connect
from orchestration.shared.check_records import latest_check_executions
from orchestration.shared.warehouse import WarehouseResource


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Copies the latest result of every asset check, each asset's latest materialization and the "
                       "latest runs into monitoring.latest_checks, latest_materializations and recent_runs.")
def pipeline_status(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    graph = context.repository_def.asset_graph
    with connect(warehouse.conninfo) as conn:
        checks, assets, runs = copy_pipeline_status(conn, context.instance, list(graph.asset_check_keys),
                                                    list(graph.get_all_asset_keys()))
    return dg.SkipReason(f"copied {checks} check results, {assets} materializations and {runs} runs")


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Records a check_breach system event for each freshness check evaluation that found a mart "
                       "overdue (Dagster builds those checks: they cannot record it themselves).")
def mart_freshness_breaches(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    keys = [key for key in context.repository_def.asset_graph.asset_check_keys if key.name == FRESHNESS_CHECK]
    records = latest_check_executions(context.instance, keys)
    breaches, seen = new_freshness_breaches(records, json.loads(context.cursor or "{}"))
    for key, evaluated_at, event_data in breaches:
        record_check_breach(warehouse.conninfo, key.asset_key.to_user_string(), key.name, event_data, evaluated_at)
    return dg.SensorResult(skip_reason=f"{len(breaches)} overdue marts announced", cursor=json.dumps(seen))
