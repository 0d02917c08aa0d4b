"""Dagster's own records of asset check executions, read across runs on a real (ephemeral) instance."""

import dagster as dg

from orchestration.shared.check_records import failed_checks, latest_check_executions


class Verdict(dg.Config):
    passed: bool


@dg.asset
def thing() -> None:
    pass


@dg.asset_check(asset=thing, blocking=True)
def sane(config: Verdict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=config.passed, severity=dg.AssetCheckSeverity.ERROR)


@dg.asset_check(asset=thing)
def never_run() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


SANE = dg.AssetCheckKey(thing.key, "sane")
NEVER_RUN = dg.AssetCheckKey(thing.key, "never_run")


def run(instance: dg.DagsterInstance, passed: bool) -> None:
    dg.materialize([thing, sane], instance=instance, raise_on_error=False,
                   run_config=dg.RunConfig(ops={sane.node_def.name: Verdict(passed=passed)}))


def test_a_check_fails_until_its_latest_execution_passes_in_another_run():
    instance = dg.DagsterInstance.ephemeral()
    assert failed_checks(instance, [SANE, NEVER_RUN]) == []

    run(instance, passed=False)
    assert failed_checks(instance, [SANE, NEVER_RUN]) == [SANE]

    run(instance, passed=True)
    assert failed_checks(instance, [SANE, NEVER_RUN]) == []


def test_the_latest_execution_names_its_run():
    instance = dg.DagsterInstance.ephemeral()
    run(instance, passed=False)
    run(instance, passed=True)
    latest = latest_check_executions(instance, [SANE, NEVER_RUN])
    assert list(latest) == [SANE]
    last_run = instance.get_runs(limit=1)[0]
    assert latest[SANE].run_id == last_run.run_id
    assert latest[SANE].evaluation.passed
