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
from ingest_api.rate_limit import counted_where, parse_limits
from ingest_api.system_events import record_process_restart
from monkeytown.cli.services import (
    Service,
    api_service,
    code_server_service,
    daemon_service,
    platform_environment,
    prepare_database,
    webserver_service,
)
from monkeytown.cli.status import StatusReporter
from monkeytown.database import active_database, client_database_url, describe_server, first_line
from monkeytown.logs import configure_logging
from monkeytown.settings import Settings
from monkeytown.supervisor import (
    Child,
    Crash,
    Supervisor,
    ensure_port_free,
    python_module,
    unused_port,
    wait_until_listening,
    wait_until_ready,
)

#: Under `up` the code server serves this machine's webserver and daemon only: loopback.
CODE_SERVER_HOST = "127.0.0.1"


def run_up(settings: Settings, args: argparse.Namespace) -> int:
    parse_limits(settings.rate_limit)
    ensure_port_free(settings.api_host, settings.api_port, "MONKEYTOWN_API_PORT")
    ensure_port_free(settings.dagster_host, settings.dagster_port, "MONKEYTOWN_DAGSTER_PORT")
    if settings.code_server_port:
        ensure_port_free(CODE_SERVER_HOST, settings.code_server_port, "MONKEYTOWN_CODE_SERVER_PORT")
    log_path = configure_logging(settings.home)
    with active_database(settings) as url:
        supervisor = Supervisor(on_crash=lambda crash: _record_in_background(url, crash))
        supervisor.install_signal_handlers()
        prepare_database(settings, url)
        keys = resolve_write_keys(settings.write_keys, settings.home)
        key_name, key = next(iter(keys.items()))
        api = f"http://{settings.api_host}:{settings.api_port}"
        dagster_ui = f"http://{settings.dagster_host}:{settings.dagster_port}"
        code_server = (CODE_SERVER_HOST, settings.code_server_port or unused_port(CODE_SERVER_HOST))
        services = [api_service(settings, url), code_server_service(settings, url, code_server),
                    webserver_service(settings, url, code_server), daemon_service(settings, url, code_server)]
        logs = log_path.parent
        try:
            for service in services:
                supervisor.spawn(service.name, service.argv, service.env, output=_log_file(service, settings, logs),
                                 restart=True)
                if service.listens_on:  # the webserver and daemon connect to it as they start
                    wait_until_listening(*service.listens_on, supervisor, "the Dagster code server")
            for service in services:
                if service.ready_url:
                    wait_until_ready(service.ready_url, supervisor, timeout=120 if service.name != "api" else 60)
            if supervisor.stopping.is_set():
                return 0
            print(banner(settings, api, dagster_ui, key_name, key, log_path), flush=True)
            if args.simulate:
                supervisor.spawn("simulator", python_module(
                    "monkeytown.cli", "simulate", "--games", "0", "--url", api, "--key", key),
                    platform_environment(settings, url), essential=False,
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


def _log_file(service: Service, settings: Settings, logs: Path) -> Path | None:
    """The API's output on the console with MONKEYTOWN_CONSOLE_LOGS; Dagster's and dbt's (every run's) always in
    dagster.log."""
    if service.name != "api":
        return logs / "dagster.log"
    return None if settings.console_logs else logs / "api.log"


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
        f"  Rate limit   {settings.rate_limit} per write key, counted {counted_where(settings.redis_url)}",
        f"  Logs         {log_path}   (Dagster and dbt: {log_path.with_name('dagster.log')})",
        "Press Ctrl-C to stop everything.",
        "",
    ])


def dashboard_address(settings: Settings, api: str, write_key: str) -> str:
    """With the write key in the fragment (the page keeps it, the server never sees it) when that key reads."""
    if settings.read_keys:
        return f"{api}/dashboard   (it asks for one of MONKEYTOWN_READ_KEYS)"
    panels = "live counters, games, ratings, retention, agents, data quality, pipeline"
    return f"{api}/dashboard#key={write_key}   ({panels})"


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

