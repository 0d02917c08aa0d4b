"""The `monkeytown` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import psycopg

from ingest_api.embedded import EmbeddedDatabaseError
from ingest_api.settings import Settings, SettingsError, load_settings

DAGSTER_WORKSPACE = Path(__file__).resolve().parents[1] / "workspace.yaml"


def _up(settings: Settings, args: argparse.Namespace) -> int:
    from ingest_api.auth import resolve_write_keys
    from ingest_api.database import active_database
    from ingest_api.logs import configure_logging
    from ingest_api.migrate import upgrade
    from ingest_api.rate_limit import parse_limits
    from ingest_api.supervisor import (
        Supervisor,
        child_environment,
        ensure_port_free,
        python_module,
        venv_tool,
        wait_until_ready,
    )
    from orchestration.dbt.project import dbt_environment, parse_for
    from orchestration.instance import (
        STORAGE_URL_VARIABLE,
        as_sqlalchemy_url,
        prepare_dagster_home,
        storage_database_url,
    )
    from orchestration.quality.environment import quality_environment

    parse_limits(settings.rate_limit)
    ensure_port_free(settings.api_host, settings.api_port, "MONKEYTOWN_API_PORT")
    ensure_port_free(settings.api_host, settings.dagster_port, "MONKEYTOWN_DAGSTER_PORT")
    log_path = configure_logging(settings.home)
    supervisor = Supervisor()
    supervisor.install_signal_handlers()
    with active_database(settings) as url:
        upgrade(url)
        _prepare_bi_role(settings, url)
        keys = resolve_write_keys(settings.write_keys, settings.home)
        key_name, key = next(iter(keys.items()))
        api = f"http://{settings.api_host}:{settings.api_port}"
        dagster_ui = f"http://{settings.api_host}:{settings.dagster_port}"
        env = child_environment({"MONKEYTOWN_DATABASE_URL": url, "MONKEYTOWN_HOME": str(settings.home)})
        dagster_env = dbt_environment(url, env) | quality_environment(url, settings.home) | {
            "DAGSTER_HOME": str(prepare_dagster_home(settings.home)),
            STORAGE_URL_VARIABLE: as_sqlalchemy_url(storage_database_url(url)),
        }
        workspace = ["-w", str(DAGSTER_WORKSPACE)]
        parse_for(url)
        try:
            supervisor.spawn("api", python_module(
                "gunicorn", "-c", "python:ingest_api.gunicorn_conf", "ingest_api.wsgi:app"), env)
            webserver = ["-h", settings.api_host, "-p", str(settings.dagster_port), *workspace]
            dagster_log = log_path.with_name("dagster.log")  # dbt's output of every run goes there, not the console
            supervisor.spawn("dagster-webserver", [venv_tool("dagster-webserver"), *webserver], dagster_env,
                             output=dagster_log)
            supervisor.spawn("dagster-daemon", [venv_tool("dagster-daemon"), "run", *workspace], dagster_env,
                             output=dagster_log)
            wait_until_ready(f"{api}/readyz", supervisor)
            wait_until_ready(f"{dagster_ui}/server_info", supervisor, timeout=120)
            if supervisor.stopping.is_set():
                return 0
            print(_banner(settings, api, dagster_ui, key_name, key, log_path), flush=True)
            if args.simulate:
                supervisor.spawn("simulator", python_module(
                    "ingest_api.cli", "simulate", "--games", "0", "--url", api, "--key", key), env, essential=False)
            exited = supervisor.wait()
            if exited is not None:
                print(f"monkeytown: the {exited.name} process exited (code {exited.process.returncode}); "
                      "stopping everything", file=sys.stderr)
                return 1
            print("\nmonkeytown: stopping…", file=sys.stderr)
            return 0
        finally:
            supervisor.stop_all()


def _banner(settings: Settings, api: str, dagster_ui: str, key_name: str, key: str, log_path) -> str:
    database = _describe_server(settings.database_url) if settings.database_url else _embedded_tcp_url(settings)
    return "\n".join([
        "",
        "Monkeytown Analytics is running.",
        f"  Ingest API   {api}/api/events   (contracts {api}/api/contracts, OpenAPI {api}/openapi.json)",
        f"  Health       {api}/readyz",
        f"  Data Docs    {api}/data-docs/   (Great Expectations results, after the first pipeline run)",
        f"  Dagster UI   {dagster_ui}   (assets, lineage, checks, schedules; new events reach marts.* by themselves)",
        f"  Database     {database}   (psql \"$(.venv/bin/monkeytown db url)\")",
        f"  Write key    {key}   ({key_name})",
        f"  Logs         {log_path}   (Dagster and dbt: {log_path.with_name('dagster.log')})",
        "Press Ctrl-C to stop everything.",
        "",
    ])


def _describe_server(url: str) -> str:
    """Where MONKEYTOWN_DATABASE_URL points, without its password."""
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(url)
    where = f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}"
    return f"database {parts.get('dbname') or '(default)'} on {where} (MONKEYTOWN_DATABASE_URL)"


def _embedded_tcp_url(settings: Settings) -> str:
    from ingest_api.embedded import EmbeddedPostgres

    return EmbeddedPostgres(settings.home).tcp_url()


def _db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from ingest_api.database import active_database
    from ingest_api.migrate import latest_version, upgrade

    with active_database(settings) as url:
        applied = upgrade(url)
        _prepare_bi_role(settings, url)
    for migration in applied:
        print(f"applied {migration.version:04d}_{migration.name}")
    print(f"landing schema at version {latest_version()}")
    return 0


def _errors_replay(settings: Settings, args: argparse.Namespace) -> int:
    from ingest_api.database import active_database
    from ingest_api.migrate import upgrade
    from ingest_api.replay import UnknownReason, replay_errors

    with active_database(settings) as url:
        upgrade(url)
        try:
            report = replay_errors(url, reason=args.reason, dry_run=args.dry_run)
        except UnknownReason as error:
            print(f"monkeytown: error: {error}", file=sys.stderr)
            return 2
    for line in report.lines():
        print(line)
    return 0  # rows still refused are an answer, not a failure


def _prepare_bi_role(settings: Settings, url: str) -> None:
    from ingest_api.bi_role import bi_password, prepare_bi_role

    warning = prepare_bi_role(url, bi_password(settings))
    if warning:
        print(f"monkeytown: warning: {warning}", file=sys.stderr)


def _db_url(settings: Settings, args: argparse.Namespace) -> int:
    url = settings.database_url or _embedded_tcp_url(settings)
    if args.role == "bi":
        return _print_bi_url(settings, url)
    print(url)
    return 0


def _print_bi_url(settings: Settings, database_url: str) -> int:
    from ingest_api.bi_role import BiRoleUnavailable, bi_role_url

    try:
        print(bi_role_url(settings, database_url))
    except BiRoleUnavailable as error:
        print(f"monkeytown: error: {error}", file=sys.stderr)
        return 1
    return 0


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    from ingest_api.simulate import run_simulation

    key = args.key or (settings.write_keys[0] if settings.write_keys else None)
    if key is None:
        from ingest_api.auth import dev_write_key

        key = dev_write_key(settings.home)
    url = args.url or f"http://{settings.api_host}:{settings.api_port}"
    return run_simulation(url=url, key=key, games=args.games, rate=args.rate, seed=args.seed)


def _dbt(settings: Settings, args: argparse.Namespace) -> int:
    import subprocess

    from ingest_api.database import active_database
    from ingest_api.migrate import upgrade
    from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_command, dbt_environment

    with active_database(settings) as url:
        upgrade(url)  # the sources are the landing tables
        return subprocess.call(dbt_command(args.dbt_args), env=dbt_environment(url), cwd=DBT_PROJECT_DIR)


def _pipeline(settings: Settings, args: argparse.Namespace) -> int:
    import os

    from ingest_api.database import active_database
    from ingest_api.migrate import upgrade
    from orchestration.dbt.project import dbt_environment, parse_for
    from orchestration.quality.environment import quality_environment

    log_path = settings.home / "logs" / "pipeline.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    console = sys.stdout
    with active_database(settings) as url, log_path.open("a") as log:
        upgrade(url)
        parse_for(url)
        os.environ.update(dbt_environment(url))  # the dbt processes Dagster starts read their connection here
        os.environ.update(quality_environment(url, settings.home))
        from orchestration.pipeline import materialize_everything

        print(f"pipeline: Dagster's and dbt's output goes to {log_path}", flush=True)
        outcome = materialize_everything(progress=lambda line: print(line, file=console, flush=True), log=log)
    if outcome.success:
        print("pipeline: every asset materialized and every check passed")
        return 0
    what = ", ".join(outcome.failed_checks) or ", ".join(outcome.failed_steps) or f"see {log_path}"
    print(f"monkeytown: error: the pipeline failed ({what})", file=sys.stderr)
    return 1


def _bench(settings: Settings, args: argparse.Namespace) -> int:
    from bench.run import main as bench_main

    return bench_main(args.bench_args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monkeytown", description="Monkeytown Analytics: the event pipeline.")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run the whole platform in the foreground")
    up.add_argument("--simulate", action="store_true", help="also feed it simulated game traffic")
    up.set_defaults(handler=_up)

    db = commands.add_parser("db", help="the database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply the landing-schema migrations (idempotent)").set_defaults(handler=_db_upgrade)
    url = db.add_parser("url", help="print the libpq URL of the active database, or of the read-only BI role")
    url.add_argument("--role", choices=["bi"], help="bi: monkeytown_bi, which BI tools use to read schema marts")
    url.set_defaults(handler=_db_url)

    errors = commands.add_parser("errors", help="refused and quarantined events").add_subparsers(
        dest="errors_command", required=True)
    replay = errors.add_parser("replay", help="re-submit pending refused or quarantined events through the same "
                               "validation; prints what landed, what was already stored and what stays refused")
    replay.add_argument("--reason", help="only rows refused for this reason (e.g. missing_field)")
    replay.add_argument("--dry-run", action="store_true", help="report what would happen; write nothing")
    replay.set_defaults(handler=_errors_replay)

    simulate = commands.add_parser("simulate", help="realistic synthetic game traffic against a running API")
    simulate.add_argument("--games", type=int, default=20, help="games to play; 0 plays until stopped")
    simulate.add_argument("--rate", type=float, default=None, help="target events per second (default: human pace)")
    simulate.add_argument("--url", help="API base URL (default: from MONKEYTOWN_API_HOST/PORT)")
    simulate.add_argument("--key", help="write key (default: the configured or dev key)")
    simulate.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable run")
    simulate.set_defaults(handler=_simulate)

    commands.add_parser("pipeline", help="materialize every asset once, in process; non-zero when a step or "
                        "blocking check fails").set_defaults(handler=_pipeline)

    dbt = commands.add_parser("dbt", help="run dbt (any arguments) against the active database", add_help=False)
    dbt.set_defaults(handler=_dbt)  # every argument belongs to dbt

    bench = commands.add_parser("bench", help="run the benchmark suite; writes JSON and Markdown reports",
                                add_help=False)
    bench.set_defaults(handler=_bench)  # its options (--quick, --rounds, ...) belong to bench/run.py
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "bench":
        args.bench_args = extra
    elif args.command == "dbt":
        args.dbt_args = extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        settings = load_settings()
        return args.handler(settings, args)
    except (SettingsError, EmbeddedDatabaseError) as error:
        print(f"monkeytown: error: {error}", file=sys.stderr)
        return 2
    except psycopg.OperationalError as error:
        from ingest_api.db import first_line

        print(f"monkeytown: error: the database failed: {first_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
