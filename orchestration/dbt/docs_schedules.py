"""When the dbt docs are rebuilt. Not in the core run: that runs on every arrival of events, and the docs describe
the project, which changes with a deploy, not with data. So: after a successful core run when the published site is
missing or was generated from other project sources (the first run after `make run`, a deploy), and daily for the
catalog's sizes and row counts."""

from pathlib import Path

import dagster as dg

from orchestration.dbt.docs import DBT_DOCS, DbtDocsSiteResource
from orchestration.dbt.docs_site import project_fingerprint, published_fingerprint
from orchestration.dbt.jobs import EXECUTOR, refresh_core_models
from orchestration.shared.keys import BACKGROUND, RETRIED

build_dbt_docs = dg.define_asset_job(
    "build_dbt_docs", selection=dg.AssetSelection.assets(DBT_DOCS), tags=RETRIED | BACKGROUND, executor_def=EXECUTOR,
    description="Generates the dbt docs against the warehouse and publishes them at /dbt-docs/.",
)


@dg.schedule(job=build_dbt_docs, cron_schedule="0 5 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING)
def daily_dbt_docs(context: dg.ScheduleEvaluationContext):
    return dg.RunRequest(run_key=f"dbt-docs-{context.scheduled_execution_time:%Y-%m-%d}")


def docs_request(home: Path, fingerprint: str) -> dg.RunRequest | dg.SkipReason:
    """A build when the published site is missing or describes other project sources; one per version of them."""
    if published_fingerprint(home) == fingerprint:
        return dg.SkipReason("the published dbt docs describe the project as it is")
    return dg.RunRequest(run_key=f"dbt-docs-{fingerprint[:16]}")


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, monitored_jobs=[refresh_core_models],
                      request_job=build_dbt_docs, default_status=dg.DefaultSensorStatus.RUNNING)
def dbt_docs_out_of_date(context: dg.RunStatusSensorContext, dbt_docs_site: DbtDocsSiteResource):
    return docs_request(Path(dbt_docs_site.home), project_fingerprint())
