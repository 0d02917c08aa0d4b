"""After a core run, today's rollups and the dashboard's views are requested when they never built, or built
10 minutes ago or more, and none of them is queued or running: the charts follow the simulator within minutes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from orchestration.dbt.sensors import DASHBOARD_REFRESH, VIEWS_PROBE, _last_built, dashboard_requests

NOW = datetime(2026, 11, 30, 0, 4, tzinfo=UTC)
ROLLUPS, VIEWS = "refresh_rollups", "refresh_dashboard_views"


def asked(last_built: dict, unfinished: set[str] = frozenset()) -> list[tuple[str, str | None, str]]:
    return [(r.job_name, r.partition_key, r.run_key) for r in dashboard_requests(NOW, "core-1", last_built, unfinished)]


def test_never_built_asks_for_both_today_s_rollups_first():
    assert asked({ROLLUPS: None, VIEWS: None}) == [
        (ROLLUPS, "2026-11-30", "refresh_rollups-after-core-1"),
        (VIEWS, None, "refresh_dashboard_views-after-core-1")]


def test_built_recently_asks_for_nothing_and_at_the_interval_asks_again():
    fresh = NOW - DASHBOARD_REFRESH + timedelta(seconds=1)
    assert asked({ROLLUPS: fresh, VIEWS: fresh}) == []
    due = NOW - DASHBOARD_REFRESH
    assert [job for job, _, _ in asked({ROLLUPS: due, VIEWS: fresh})] == [ROLLUPS]


def test_a_job_queued_or_running_is_not_asked_for_again():
    assert [job for job, _, _ in asked({ROLLUPS: None, VIEWS: None}, {ROLLUPS})] == [VIEWS]
    assert asked({ROLLUPS: None, VIEWS: None}, {ROLLUPS, VIEWS}) == []


def test_the_last_build_is_the_probe_asset_s_latest_materialization():
    instance = dg.DagsterInstance.ephemeral()
    assert _last_built(instance, VIEWS_PROBE) is None
    before = datetime.now(UTC)
    instance.report_runless_asset_event(dg.AssetMaterialization(VIEWS_PROBE))
    assert before - timedelta(seconds=1) <= _last_built(instance, VIEWS_PROBE) <= datetime.now(UTC)
