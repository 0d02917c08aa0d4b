"""The marts' freshness checks, Dagster's own, on a real (ephemeral) instance: overdue until the mart is built, and
announced as a check_breach system event once a built mart is overdue."""

import warnings
from datetime import timedelta

import dagster as dg

from orchestration.monitoring.freshness import ENTITY_MARTS_FRESH_WITHIN, mart_freshness_checks, mart_keys
from orchestration.monitoring.sensors import mart_freshness_breaches
from tests.orchestration.monitoring.conftest import breaches, resources

GAMES = dg.AssetKey(["marts", "games"])
LEADERBOARD = dg.AssetKey(["marts", "leaderboard"])


@dg.asset(key=GAMES)
def games() -> None:
    pass


@dg.asset(key=["staging", "stg_games"])
def staged() -> None:
    pass


def evaluate(instance: dg.DagsterInstance, checks) -> dict[str, dg.AssetCheckEvaluation]:
    result = dg.materialize([games, *checks], instance=instance, selection=dg.AssetSelection.checks(*checks))
    return {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}


def test_only_the_marts_get_freshness_checks():
    assert mart_keys([games, staged]) == [GAMES]


def test_a_mart_never_built_is_overdue_and_one_just_built_is_fresh():
    instance = dg.DagsterInstance.ephemeral()
    checks = mart_freshness_checks([GAMES], [LEADERBOARD])

    before = evaluate(instance, checks)
    assert not before["marts/games"].passed and not before["marts/leaderboard"].passed
    assert before["marts/games"].severity == dg.AssetCheckSeverity.WARN

    dg.materialize([games], instance=instance)
    after = evaluate(instance, checks)
    assert after["marts/games"].passed and not after["marts/leaderboard"].passed
    bound = after["marts/games"].metadata["dagster/freshness_params"].value["lower_bound_delta_seconds"]
    assert bound == ENTITY_MARTS_FRESH_WITHIN.total_seconds()


def overdue_checks() -> list[dg.AssetChecksDefinition]:
    """A bound so short that any build is overdue by the next run: no waiting for a real hour to pass."""
    with warnings.catch_warnings():  # superseded, as orchestration/monitoring/freshness.py says
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        return dg.build_last_update_freshness_checks(assets=[GAMES], lower_bound_delta=timedelta(milliseconds=1))


def test_an_overdue_mart_is_announced_once_as_a_check_breach(conn, monitoring_url):
    instance = dg.DagsterInstance.ephemeral()
    checks = overdue_checks()
    definitions = dg.Definitions(assets=[games], asset_checks=checks, sensors=[mart_freshness_breaches],
                                 resources=resources(monitoring_url))
    sensor = definitions.resolve_sensor_def("mart_freshness_breaches")

    def tick(cursor: str | None):
        with dg.build_sensor_context(instance=instance, definitions=definitions, cursor=cursor,
                                     resources=resources(monitoring_url)) as context:
            return sensor(context)

    evaluate(instance, checks)  # never built: failing, but nothing went stale
    first = tick(None)
    assert breaches(conn) == []

    dg.materialize([games], instance=instance)
    result = evaluate(instance, checks)
    assert not result["marts/games"].passed
    second = tick(first.cursor)
    (breach,) = breaches(conn)
    assert (breach["asset"], breach["check"], breach["metric"], breach["unit"]) == (
        "marts/games", "freshness_check", "mart_age_seconds", "s")
    assert breach["value"] > breach["threshold"] == 0.001

    tick(second.cursor)  # the same evaluation again: already announced
    assert len(breaches(conn)) == 1
