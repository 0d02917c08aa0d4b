"""`monkeytown pipeline`: every asset materialized once, in process, as the schedules would."""

import dagster as dg

from orchestration.definitions import defs


def materialize_everything() -> dg.ExecuteInProcessResult:
    """Runs every asset (and its checks); a failed step or blocking check makes the result unsuccessful."""
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
