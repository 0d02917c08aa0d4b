"""Today's rollups and the dashboard's views after a core run, at most every DASHBOARD_REFRESH: the hourly
schedules keep every day a late event can touch right, but a platform just started (none of them built yet), or a
studio watching its dashboard, should not wait up to an hour for today's charts. Built when the code location
loads; no `from __future__ import annotations` here: Dagster reads the context's type from the annotation."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from orchestration.dbt.jobs import refresh_core_models, refresh_dashboard_views, refresh_rollups

DASHBOARD_REFRESH = timedelta(minutes=10)
#: One asset of each job, whose latest materialization says when that job last ran.
ROLLUPS_PROBE = dg.AssetKey(["marts", "game_activity_hourly"])
VIEWS_PROBE = dg.AssetKey(["marts", "leaderboard"])
UNFINISHED = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
              dg.DagsterRunStatus.STARTED]


def dashboard_requests(now: datetime, core_run_id: str, last_built: dict[str, datetime | None],
                       unfinished: set[str]) -> list[dg.RunRequest]:
    """For each of refresh_rollups (today's UTC day) and refresh_dashboard_views: a run when it never built or
    built DASHBOARD_REFRESH or longer ago, and none of it is queued or running. `last_built` and `unfinished`
    are by job name."""
    requests = []
    for job, partition in ((refresh_rollups.name, now.astimezone(UTC).date().isoformat()),
                           (refresh_dashboard_views.name, None)):
        built = last_built.get(job)
        if job in unfinished or (built is not None and now - built < DASHBOARD_REFRESH):
            continue
        requests.append(dg.RunRequest(run_key=f"{job}-after-{core_run_id}", job_name=job, partition_key=partition))
    return requests


def _last_built(instance: dg.DagsterInstance, key: dg.AssetKey) -> datetime | None:
    event = instance.get_latest_materialization_event(key)
    return None if event is None else datetime.fromtimestamp(event.timestamp, UTC)


def _unfinished(instance: dg.DagsterInstance, job: str) -> bool:
    return bool(instance.get_run_records(dg.RunsFilter(job_name=job, statuses=UNFINISHED), limit=1))


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, monitored_jobs=[refresh_core_models],
                      request_jobs=[refresh_rollups, refresh_dashboard_views],
                      default_status=dg.DefaultSensorStatus.RUNNING)
def dashboard_follows_core_runs(context: dg.RunStatusSensorContext):
    instance = context.instance
    jobs = {refresh_rollups.name: ROLLUPS_PROBE, refresh_dashboard_views.name: VIEWS_PROBE}
    requests = dashboard_requests(datetime.now(UTC), context.dagster_run.run_id,
                                  {job: _last_built(instance, key) for job, key in jobs.items()},
                                  {job for job in jobs if _unfinished(instance, job)})
    return requests or dg.SkipReason(f"today's rollups and the dashboard's views are under "
                                     f"{DASHBOARD_REFRESH.total_seconds() / 60:.0f} minutes old, or on their way")
