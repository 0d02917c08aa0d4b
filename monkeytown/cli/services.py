"""The platform's services, one function each: what runs it (command and environment) and how to tell it serves.
`monkeytown up` starts all of them under one supervisor; `monkeytown serve <role>` starts one (serve.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ingest_api.migrate import Migration, upgrade
from monkeytown.cli.output import prepare_bi_role_or_warn
from monkeytown.settings import Settings
from monkeytown.supervisor import child_environment, python_module, venv_tool
from orchestration.dbt.project import parse_for
from orchestration.environment import dagster_environment
from orchestration.instance import prepare_instance
from orchestration.workspace import code_server_command, write_grpc_workspace

#: `monkeytown serve <role>`, and the supervisor's name for each (logs, crash records, `up`'s messages).
ROLES = {"api": "api", "code-server": "dagster-code-server", "dagster-webserver": "dagster-webserver",
         "dagster-daemon": "dagster-daemon"}


@dataclass(frozen=True)
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    ready_url: str | None = None  # answers 200 once the service serves (HTTP services)
    listens_on: tuple[str, int] | None = None  # accepts TCP once it serves (the gRPC code server)


def prepare_database(settings: Settings, url: str) -> list[Migration]:
    """The landing schema's migrations and the BI role (`db upgrade`, `up`, `serve api`); idempotent, and several
    processes doing it at once apply each migration once (advisory lock). Returns the migrations applied."""
    applied = upgrade(url)
    prepare_bi_role_or_warn(settings, url)
    return applied


def platform_environment(settings: Settings, url: str) -> dict[str, str]:
    """This process's environment with the database the services share and MONKEYTOWN_HOME."""
    return child_environment({"MONKEYTOWN_DATABASE_URL": url, "MONKEYTOWN_HOME": str(settings.home)})


def dagster_service_environment(settings: Settings, url: str) -> dict[str, str]:
    """Prepares the Dagster instance (DAGSTER_HOME's dagster.yaml and the storage database, both idempotent) and
    returns the environment every Dagster process gets."""
    prepare_instance(url, settings.home, settings.prune_history_days)
    return platform_environment(settings, url) | dagster_environment(url, settings.home)


def workspace_file(settings: Settings, code_server: tuple[str, int]) -> Path:
    """The grpc_server workspace the webserver and the daemon load: the code server at `code_server`."""
    return write_grpc_workspace(settings.home / "dagster" / "workspace.yaml", *code_server)


def api_service(settings: Settings, url: str) -> Service:
    """The ingest API, read API and dashboard under gunicorn (ingest_api.gunicorn_conf: host, port, workers)."""
    argv = python_module("gunicorn", "-c", "python:ingest_api.gunicorn_conf", "ingest_api.wsgi:app")
    ready = f"{_http(settings.api_host, settings.api_port)}/readyz"
    return Service(ROLES["api"], argv, platform_environment(settings, url), ready_url=ready)


def code_server_service(settings: Settings, url: str, code_server: tuple[str, int]) -> Service:
    """The code location as a gRPC server (`dagster code-server start`), listening on `code_server`; it runs the
    runs the webserver and daemon launch, so it needs dbt's manifest for this database (parsed here)."""
    env = dagster_service_environment(settings, url)
    parse_for(url)
    host, port = code_server
    return Service(ROLES["code-server"], code_server_command(venv_tool("dagster"), host, port), env,
                   listens_on=(_reachable(host), port))


def webserver_service(settings: Settings, url: str, code_server: tuple[str, int]) -> Service:
    """The Dagster UI on MONKEYTOWN_DAGSTER_HOST/PORT, loading the code location from the code server."""
    env = dagster_service_environment(settings, url)
    argv = [venv_tool("dagster-webserver"), "-h", settings.dagster_host, "-p", str(settings.dagster_port),
            "-w", str(workspace_file(settings, code_server))]
    ready = f"{_http(settings.dagster_host, settings.dagster_port)}/server_info"
    return Service(ROLES["dagster-webserver"], argv, env, ready_url=ready)


def daemon_service(settings: Settings, url: str, code_server: tuple[str, int]) -> Service:
    """The Dagster daemon (schedules, sensors, the run queue), reaching the code location on the code server."""
    env = dagster_service_environment(settings, url)
    argv = [venv_tool("dagster-daemon"), "run", "-w", str(workspace_file(settings, code_server))]
    return Service(ROLES["dagster-daemon"], argv, env)


def _http(host: str, port: int) -> str:
    host = _reachable(host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _reachable(host: str) -> str:
    """An address to probe a server on: a wildcard listen address is reached on loopback."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
