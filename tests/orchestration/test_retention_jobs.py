"""Retention as Dagster runs it, on a real PostgreSQL and a local archive: the upkeep makes the coming days and shows
which days PostgreSQL and the archive hold, the archive job archives and drops one UTC day per partition, the daily
schedule asks for every expired day, and nothing runs while a blocking check's latest run failed."""

import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time

import dagster as dg
import psycopg
import pytest

from ingest_api.contracts import AGENT_RUNS_ENDPOINT
from ingest_api.door import LandingRow, admit
from ingest_api.landing import LandingJob, Provenance, land
from monkeytown.settings import load_settings
from orchestration.definitions import blocking_checks, build_definitions
from orchestration.retention.assets import ARCHIVED_EVENT_DAYS, DAYS_IN_RANGE, RAW_EVENTS_DAYS, guarded_assets
from orchestration.retention.jobs import archive_expired_days
from orchestration.retention.parquet_day import verify_day
from orchestration.retention.policy import RetentionPolicy
from orchestration.retention.resources import RetentionResource
from orchestration.retention.safety import RetentionRefused, blocking_check_keys, refuse_when_checks_failed
from orchestration.retention.schedules import daily_archive
from orchestration.retention.store import open_archive_store
from orchestration.retention.upkeep import DAYS_AHEAD, days_out_of_range, ensure_coming_days, family_day_states
from orchestration.shared.warehouse import WarehouseResource
from tests.ingest_api.factories import agent_run, game_end, game_start, move
from tests.orchestration.s3_server import S3_ENV, new_bucket

TODAY = datetime.now(UTC).date()
OLD_DAY = TODAY - timedelta(days=120)  # past both families' retention
MONTH_OLD = TODAY - timedelta(days=45)  # past system events' 30 days, inside game events' 90


def land_day(url: str, day: date) -> None:
    """A game, an agent run and a server start on `day`, through the door at noon that day."""
    received_at = datetime.combine(day, day_time(12), tzinfo=UTC)
    game = f"g-{day:%Y%m%d}"
    events = [admit(event, received_at) for event in (game_start(game_id=game), move(game_id=game),
                                                      game_end(game_id=game))]
    events.append(admit(agent_run(), received_at, endpoint=AGENT_RUNS_ENDPOINT))
    events.append(admit({"event_id": f"server_start-{uuid.uuid4().hex}", "type": "server_start",
                         "event_data": {"version": "9.9.9", "pid": 1, "host": "h", "workers": 2}},
                        received_at, endpoint=None))
    assert all(isinstance(verdict, LandingRow) for verdict in events)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT raw.ensure_events_partition(%s)", (day,))
        land(conn, [LandingJob(events, [], Provenance())])


@pytest.fixture
def platform(make_database, tmp_path):
    url = make_database()
    for day in (OLD_DAY, MONTH_OLD):
        land_day(url, day)
    settings = load_settings({"MONKEYTOWN_HOME": str(tmp_path), "MONKEYTOWN_DATABASE_URL": url})
    return url, settings, open_archive_store(settings.archive_url)


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    [failure] = [event.event_specific_data for event in result.all_events if event.is_step_failure]
    return failure.error.to_string() + (failure.user_failure_data.description if failure.user_failure_data else "")


def held(url: str) -> set[tuple[str, date]]:
    with psycopg.connect(url) as conn:
        return {(family, day) for family, day, _, rows in conn.execute("SELECT * FROM raw.family_days()") if rows}


def test_upkeep_makes_the_coming_week_once(make_database):
    with psycopg.connect(make_database(), autocommit=True) as conn:
        made = ensure_coming_days(conn, TODAY + timedelta(days=30))
        assert made == [TODAY + timedelta(days=30 + n) for n in range(DAYS_AHEAD + 1)]
        assert ensure_coming_days(conn, TODAY + timedelta(days=30)) == []
        families = {family for family, day, _ in conn.execute("SELECT * FROM raw.family_partitions()")
                    if day == TODAY + timedelta(days=30 + DAYS_AHEAD)}
    assert families == {"client", "ci", "server", "default"}


def test_the_states_and_the_guard_follow_what_was_archived(platform):
    url, settings, store = platform
    policy = RetentionPolicy()
    with psycopg.connect(url, autocommit=True) as conn:
        before = family_day_states(conn, store)
    assert {(s.family, s.day, s.state) for s in before} == {
        (family, day, "in postgres") for family in ("client", "ci", "server") for day in (OLD_DAY, MONTH_OLD)}
    guard = days_out_of_range(before, TODAY, policy)
    assert sorted((family, day) for family, day, _ in guard.overdue) == [
        ("client", OLD_DAY), ("server", OLD_DAY), ("server", MONTH_OLD)]
    assert guard.too_far_ahead == [] and not guard.ok

    result = build_definitions(url, settings).resolve_job_def("archive_expired_days").execute_in_process(
        partition_key=OLD_DAY.isoformat(), instance=dg.DagsterInstance.ephemeral())
    assert result.success
    with psycopg.connect(url, autocommit=True) as conn:
        after = {(s.family, s.day): s for s in family_day_states(conn, store)}
    assert after["client", OLD_DAY].state == after["server", OLD_DAY].state == "archived"
    assert after["client", OLD_DAY].rows_archived == 3 and after["ci", OLD_DAY].state == "in postgres"


def test_the_upkeep_job_shows_the_days_and_warns_when_retention_is_behind(platform):
    url, settings, _ = platform
    result = build_definitions(url, settings).resolve_job_def("raw_events_upkeep").execute_in_process(
        instance=dg.DagsterInstance.ephemeral())
    [materialization] = result.asset_materializations_for_node("retention__raw_events_days")
    table = materialization.metadata["days"].value
    assert {(r.data["family"], r.data["day"]) for r in table.records} >= {("client", OLD_DAY.isoformat())}
    [check] = [e.event_specific_data for e in result.all_events
               if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    assert check.check_name == DAYS_IN_RANGE and not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert materialization.asset_key == RAW_EVENTS_DAYS


def test_the_archive_job_drops_exactly_the_expired_families_of_its_day(platform):
    url, settings, store = platform
    definitions = build_definitions(url, settings)
    job = definitions.resolve_job_def("archive_expired_days")
    assert job.execute_in_process(partition_key=MONTH_OLD.isoformat(),
                                  instance=dg.DagsterInstance.ephemeral()).success
    assert ("server", MONTH_OLD) not in held(url) and {("client", MONTH_OLD), ("ci", MONTH_OLD)} <= held(url)
    assert verify_day(store, "server", MONTH_OLD).ok

    yesterday = TODAY - timedelta(days=1)
    young = job.execute_in_process(partition_key=yesterday.isoformat(), instance=dg.DagsterInstance.ephemeral(),
                                   raise_on_error=False)
    assert not young.success and f"nothing on {yesterday} is past its retention yet" in failure_text(young)


class Verdict(dg.Config):
    passed: bool


@dg.asset(key=["quality", "retention_test_thing"])
def thing() -> None:
    pass


@dg.asset_check(asset=thing, blocking=True)
def sane(config: Verdict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=config.passed)


def test_the_code_locations_blocking_checks_are_the_gx_suites_and_the_dbt_tests():
    names = {key.to_user_string() for key in blocking_checks()}
    assert {"quality/raw_events_quarantine:raw_events_contracts", "marts/games:games_quality",
            "marts/games:unique_games_game_id"} <= names
    assert blocking_check_keys([thing, sane]) == [dg.AssetCheckKey(thing.key, "sane")]


def test_nothing_is_archived_while_a_blocking_checks_latest_run_failed(platform):
    url, settings, _ = platform
    definitions = dg.Definitions(
        assets=[thing, *guarded_assets([dg.AssetCheckKey(thing.key, "sane")])], asset_checks=[sane],
        jobs=[archive_expired_days], resources=build_definitions(url, settings).resources)
    instance = dg.DagsterInstance.ephemeral()
    dg.materialize([thing, sane], instance=instance, raise_on_error=False,
                   run_config=dg.RunConfig(ops={sane.node_def.name: Verdict(passed=False)}))
    before = held(url)

    refused = definitions.resolve_job_def("archive_expired_days").execute_in_process(
        partition_key=OLD_DAY.isoformat(), instance=instance, raise_on_error=False)
    assert not refused.success and held(url) == before
    assert "1 blocking data-quality check(s) failed (quality/retention_test_thing:sane)" in failure_text(refused)

    dg.materialize([thing, sane], instance=instance,
                   run_config=dg.RunConfig(ops={sane.node_def.name: Verdict(passed=True)}))
    assert definitions.resolve_job_def("archive_expired_days").execute_in_process(
        partition_key=OLD_DAY.isoformat(), instance=instance).success
    assert ("client", OLD_DAY) not in held(url)


def test_refusal_names_the_checks():
    refuse_when_checks_failed([])
    with pytest.raises(RetentionRefused, match="2 blocking data-quality check.*marts/games:games_quality"):
        refuse_when_checks_failed(["marts/games:games_quality", "marts/moves:moves_quality"])


def test_the_daily_schedule_asks_for_every_expired_day_once_per_tick(platform):
    url, settings, _ = platform
    tick = datetime.combine(TODAY, day_time(3, 30), tzinfo=UTC)
    context = dg.build_schedule_context(scheduled_execution_time=tick, resources={
        "warehouse": WarehouseResource(conninfo=url),
        "retention": RetentionResource(archive_url=settings.archive_url, home=str(settings.home))})
    requests = daily_archive(context)
    assert [(r.partition_key, r.run_key) for r in requests] == [
        (OLD_DAY.isoformat(), f"archive-{OLD_DAY}-{tick:%Y%m%d}"),
        (MONTH_OLD.isoformat(), f"archive-{MONTH_OLD}-{tick:%Y%m%d}")]
    assert ARCHIVED_EVENT_DAYS.path == ["retention", "archived_event_days"]


def test_the_archive_job_archives_to_s3_through_dagster_aws(platform, moto_endpoint, monkeypatch):
    url, _, _ = platform
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    archive_url = f"s3://{new_bucket(moto_endpoint)}/archive"
    settings = load_settings({"MONKEYTOWN_DATABASE_URL": url, "MONKEYTOWN_ARCHIVE_URL": archive_url,
                              "MONKEYTOWN_S3_ENDPOINT_URL": moto_endpoint})
    assert build_definitions(url, settings).resolve_job_def("archive_expired_days").execute_in_process(
        partition_key=OLD_DAY.isoformat(), instance=dg.DagsterInstance.ephemeral()).success
    store = open_archive_store(archive_url, s3_endpoint_url=moto_endpoint)
    assert verify_day(store, "client", OLD_DAY).ok and verify_day(store, "server", OLD_DAY).ok
    assert {("client", OLD_DAY), ("server", OLD_DAY)}.isdisjoint(held(url))
