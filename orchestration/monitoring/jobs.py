"""The job that measures the pipeline's health and judges it: the monitoring assets with their checks."""

import dagster as dg

from orchestration.shared.catalog import MONITORING
from orchestration.shared.keys import BACKGROUND

#: One process for the run: its four small steps cost less than starting a process for each.
measure_pipeline_health = dg.define_asset_job(
    "measure_pipeline_health", selection=dg.AssetSelection.groups(MONITORING), executor_def=dg.in_process_executor,
    tags=BACKGROUND,
    description="Measures events per second, the error rate, storage growth and the database's query p95, and "
                "judges each against its threshold (a breach fails its check and records a check_breach event).",
)
