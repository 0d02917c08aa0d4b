"""The `monkeytown` subcommands other than `up`: each a thin handler over the module that does the work."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from ingest_api.auth import dev_write_key
from ingest_api.migrate import latest_version, upgrade
from ingest_api.replay import UnknownReason, replay_errors
from monkeytown.bi_role import BiRoleUnavailable, bi_role_url
from monkeytown.cli.output import error
from monkeytown.cli.services import prepare_database
from monkeytown.database import active_database, client_database_url
from monkeytown.log_rotation import dated_name
from monkeytown.settings import Settings
from monkeytown.simulator import run_simulation
from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_command, dbt_environment, parse_for
from orchestration.environment import dagster_environment


def db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    with active_database(settings) as url:
        applied = prepare_database(settings, url)
    for migration in applied:
        print(f"applied {migration.version:04d}_{migration.name}")
    print(f"landing schema at version {latest_version()}")
    return 0


def db_url(settings: Settings, args: argparse.Namespace) -> int:
    url = client_database_url(settings)
    if args.role != "bi":
        print(url)
        return 0
    try:
        print(bi_role_url(settings, url, reads_from=settings.read_database_url))
    except BiRoleUnavailable as problem:
        error(str(problem))
        return 1
    return 0


def errors_replay(settings: Settings, args: argparse.Namespace) -> int:
    with active_database(settings) as url:
        upgrade(url)
        try:
            report = replay_errors(url, reason=args.reason, dry_run=args.dry_run)
        except UnknownReason as problem:
            error(str(problem))
            return 2
    for line in report.lines():
        print(line)
    return 0  # rows still refused are an answer, not a failure


def simulate(settings: Settings, args: argparse.Namespace) -> int:
    key = args.key or (settings.write_keys[0] if settings.write_keys else None) or dev_write_key(settings.home)
    url = args.url or f"http://{settings.api_host}:{settings.api_port}"
    return run_simulation(url=url, key=key, games=args.games, rate=args.rate, seed=args.seed,
                          transport_kind=args.transport)


def dbt(settings: Settings, args: argparse.Namespace) -> int:
    with active_database(settings) as url:
        upgrade(url)  # the sources are the landing tables
        return subprocess.call(dbt_command(args.dbt_args), env=dbt_environment(url), cwd=DBT_PROJECT_DIR)


def pipeline(settings: Settings, args: argparse.Namespace) -> int:
    log_path = dated_name(settings.home / "logs" / "pipeline.log", time.time())  # one file per UTC day
    log_path.parent.mkdir(parents=True, exist_ok=True)
    console = sys.stdout
    with active_database(settings) as url, log_path.open("a") as log:
        upgrade(url)
        parse_for(url)
        os.environ.update(dagster_environment(url, settings.home))  # the code location, dbt and GX read it here
        # Dagster, dbt's adapter and GX load here only: every other command stays quick
        from orchestration.pipeline import materialize_everything

        print(f"pipeline: Dagster's and dbt's output goes to {log_path}", flush=True)
        outcome = materialize_everything(progress=lambda line: print(line, file=console, flush=True), log=log)
    if outcome.success:
        print("pipeline: every asset materialized and every check passed")
        return 0
    what = ", ".join(outcome.failed_checks) or ", ".join(outcome.failed_steps) or f"see {log_path}"
    error(f"the pipeline failed ({what})")
    return 1


def bench(settings: Settings, args: argparse.Namespace) -> int:
    from bench.run import main as bench_main  # the benchmarks' load generators load for `monkeytown bench` only

    return bench_main(args.bench_args)
