"""`monkeytown up`: the whole platform in the foreground (database, migrations, the API under gunicorn, the Dagster
code server with the webserver and daemon it serves, and with --simulate game traffic); Ctrl-C stops everything it
started."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

import psycopg

from ingest_api.auth import resolve_write_keys
from ingest_api.migrate import upgrade
from ingest_api.rate_limit import parse_limits
from ingest_api.system_events import record_process_restart
from monkeytown.cli.output import prepare_bi_role_or_warn
from monkeytown.cli.status import StatusReporter
from monkeytown.database import active_database, client_database_url, describe_server, first_line
from monkeytown.logs import configure_logging
from monkeytown.settings import Settings
from monkeytown.supervisor import (
    Child,
    Crash,
    Supervisor,
    child_environment,
    ensure_port_free,
    python_module,
    unused_port,
    venv_tool,
    wait_until_listening,
    wait_until_ready,
)
from orchestration.dbt.project import parse_for
from orchestration.environment import dagster_environment
from orchestration.instance import prepare_instance
from orchestration.workspace import code_server_command, write_grpc_workspace

#: The code server serves the webserver and the daemon only: loopback.
CODE_SERVER_HOST = "127.0.0.1"


def run_up(settings: Settings, args: argparse.Namespace) -> int:
    parse_limits(settings.rate_limit)
    ensure_port_free(settings.api_host, settings.api_port, "MONKEYTOWN_API_PORT")
    ensure_port_free(settings.api_host, settings.dagster_port, "MONKEYTOWN_DAGSTER_PORT")
    log_path = configure_logging(settings.home)
    with active_database(settings) as url:
        supervisor = Supervisor(on_crash=lambda crash: _record_in_background(url, crash))
        supervisor.install_signal_handlers()
        upgrade(url)
        prepare_bi_role_or_warn(settings, url)
        keys = resolve_write_keys(settings.write_keys, settings.home)
        key_name, key = next(iter(keys.items()))
        api = f"http://{settings.api_host}:{settings.api_port}"
        dagster_ui = f"http://{settings.api_host}:{settings.dagster_port}"
        env = child_environment({"MONKEYTOWN_DATABASE_URL": url, "MONKEYTOWN_HOME": str(settings.home)})
        prepare_instance(url, settings.home, settings.prune_history_days)
        dagster_env = env | dagster_environment(url, settings.home)
        code_port = unused_port(CODE_SERVER_HOST)
        workspace = ["-w", str(write_grpc_workspace(settings.home / "dagster" / "workspace.yaml", CODE_SERVER_HOST,
                                                    code_port))]
        parse_for(url)
        logs = log_path.parent
        try:
            supervisor.spawn("api", python_module(
                "gunicorn", "-c", "python:ingest_api.gunicorn_conf", "ingest_api.wsgi:app"), env,
                output=None if settings.console_logs else logs / "api.log", restart=True)
            dagster_log = log_path.with_name("dagster.log")  # dbt's output of every run goes there, not the console
            supervisor.spawn("dagster-code-server", code_server_command(venv_tool("dagster"), CODE_SERVER_HOST,
                                                                        code_port), dagster_env,
                             output=dagster_log, restart=True)
            wait_until_listening(CODE_SERVER_HOST, code_port, supervisor, "the Dagster code server")
            webserver = ["-h", settings.api_host, "-p", str(settings.dagster_port), *workspace]
            supervisor.spawn("dagster-webserver", [venv_tool("dagster-webserver"), *webserver], dagster_env,
                             output=dagster_log, restart=True)
            supervisor.spawn("dagster-daemon", [venv_tool("dagster-daemon"), "run", *workspace], dagster_env,
                             output=dagster_log, restart=True)
            wait_until_ready(f"{api}/readyz", supervisor)
            wait_until_ready(f"{dagster_ui}/server_info", supervisor, timeout=120)
            if supervisor.stopping.is_set():
                return 0
            print(banner(settings, api, dagster_ui, key_name, key, log_path), flush=True)
            if args.simulate:
                supervisor.spawn("simulator", python_module(
                    "monkeytown.cli", "simulate", "--games", "0", "--url", api, "--key", key), env, essential=False,
                    output=None if settings.console_logs else logs / "simulator.log")
            if not settings.console_logs:
                StatusReporter(url, dagster_ui, supervisor.stopping, sys.stdout).start()
            exited = supervisor.wait()
            if exited is not None:
                print(f"monkeytown: the {exited.name} process exited (code {exited.process.returncode}) "
                      f"{_how_often(exited, supervisor)}; stopping everything (see {logs})", file=sys.stderr)
                return 1
            print("\nmonkeytown: stopping…", file=sys.stderr)
            return 0
        finally:
            supervisor.stop_all()


def banner(settings: Settings, api: str, dagster_ui: str, key_name: str, key: str, log_path: Path) -> str:
    # the embedded server's TCP URL without its password, which `db url` prints for psql
    database = describe_server(settings.database_url or client_database_url(settings))
    return "\n".join([
        "",
        "Monkeytown Analytics is running.",
        f"  Ingest API   {api}/api/events   (contracts {api}/api/contracts, OpenAPI {api}/openapi.json)",
        f"  Stream       {api.replace('http', 'ws', 1)}/api/events/stream   (WebSocket; browsers: /sdk/monkeytown.js)",
        f"  Health       {api}/readyz",
        f"  Dashboard    {dashboard_address(settings, api, key)}",
        f"  Data Docs    {api}/data-docs/   (Great Expectations results, after the first pipeline run)",
        f"  dbt docs     {api}/dbt-docs/   (models, columns, lineage; after the first core run)",
        f"  Dagster UI   {dagster_ui}   (assets, lineage, checks, schedules; new events reach marts.* by themselves)",
        f"  Database     {database}   (psql \"$(.venv/bin/monkeytown db url)\")",
        f"  Write key    {key}   ({key_name})",
        f"  Logs         {log_path}   (Dagster and dbt: {log_path.with_name('dagster.log')})",
        "Press Ctrl-C to stop everything.",
        "",
    ])


def dashboard_address(settings: Settings, api: str, write_key: str) -> str:
    """With the write key in the fragment (the page keeps it, the server never sees it) when that key reads."""
    if settings.read_keys:
        return f"{api}/dashboard   (it asks for one of MONKEYTOWN_READ_KEYS)"
    return f"{api}/dashboard#key={write_key}   (live counters, games, retention, agents, data quality, pipeline)"


def _how_often(child: Child, supervisor: Supervisor) -> str:
    if not child.restart:
        return "on its own"
    policy = supervisor.policy
    return f"{len(child.crashes)} times within {policy.window_seconds:g} s, restarted after each but the last"


def _record_in_background(url: str, crash: Crash) -> None:
    """A process_restart system event, written beside the supervisor's loop: a hung database must not stall it."""
    threading.Thread(target=_record, args=(url, crash), name="monkeytown-crash-record", daemon=True).start()


def _record(url: str, crash: Crash) -> None:
    try:
        record_process_restart(url, crash.name, crash.exit_code, crash.recent_crashes, crash.restart_in)
    except psycopg.Error as error:
        print(f"monkeytown: warning: could not record the {crash.name} crash: {first_line(error)}",
              file=sys.stderr, flush=True)

