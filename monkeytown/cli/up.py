"""`monkeytown up`: the whole platform in the foreground (database, migrations, the API under gunicorn, the Dagster
webserver and daemon, and with --simulate game traffic); Ctrl-C stops everything it started."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ingest_api.auth import resolve_write_keys
from ingest_api.migrate import upgrade
from ingest_api.rate_limit import parse_limits
from monkeytown.cli.output import prepare_bi_role_or_warn
from monkeytown.database import active_database, client_database_url, describe_server
from monkeytown.logs import configure_logging
from monkeytown.settings import Settings
from monkeytown.supervisor import (
    Supervisor,
    child_environment,
    ensure_port_free,
    python_module,
    venv_tool,
    wait_until_ready,
)
from orchestration.dbt.project import dbt_environment, parse_for
from orchestration.instance import STORAGE_URL_VARIABLE, as_sqlalchemy_url, prepare_dagster_home, storage_database_url
from orchestration.quality.environment import quality_environment

DAGSTER_WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"


def run_up(settings: Settings, args: argparse.Namespace) -> int:
    parse_limits(settings.rate_limit)
    ensure_port_free(settings.api_host, settings.api_port, "MONKEYTOWN_API_PORT")
    ensure_port_free(settings.api_host, settings.dagster_port, "MONKEYTOWN_DAGSTER_PORT")
    log_path = configure_logging(settings.home)
    supervisor = Supervisor()
    supervisor.install_signal_handlers()
    with active_database(settings) as url:
        upgrade(url)
        prepare_bi_role_or_warn(settings, url)
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
            print(banner(settings, api, dagster_ui, key_name, key, log_path), flush=True)
            if args.simulate:
                supervisor.spawn("simulator", python_module(
                    "monkeytown.cli", "simulate", "--games", "0", "--url", api, "--key", key), env, essential=False)
            exited = supervisor.wait()
            if exited is not None:
                print(f"monkeytown: the {exited.name} process exited (code {exited.process.returncode}); "
                      "stopping everything", file=sys.stderr)
                return 1
            print("\nmonkeytown: stopping…", file=sys.stderr)
            return 0
        finally:
            supervisor.stop_all()


def banner(settings: Settings, api: str, dagster_ui: str, key_name: str, key: str, log_path: Path) -> str:
    database = describe_server(settings.database_url) if settings.database_url else client_database_url(settings)
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
