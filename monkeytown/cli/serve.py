"""`monkeytown serve <role>`: one service in the foreground, against the configured database, for deployments that
run them apart (a container per role, a systemd unit per role). Built from the same services as `up`; the service
manager restarts it, so a crash ends `serve` with the service's exit code instead of a restart here."""

from __future__ import annotations

import argparse
import sys

from monkeytown.cli.services import (
    ROLES,
    Service,
    api_service,
    code_server_service,
    daemon_service,
    prepare_database,
    webserver_service,
)
from monkeytown.database import check_server, running_database_url
from monkeytown.settings import DEFAULT_CODE_SERVER_PORT, Settings
from monkeytown.supervisor import Supervisor


def run_serve(settings: Settings, args: argparse.Namespace) -> int:
    supervisor = Supervisor()
    supervisor.install_signal_handlers()  # before the preparation, so a stop during it is clean too
    url = serving_database(settings)
    service = prepare_role(args.role, settings, url)
    if supervisor.stopping.is_set():
        return 0
    try:
        child = supervisor.spawn(service.name, service.argv, service.env)
        print(f"monkeytown: serving {args.role} (pid {child.process.pid}); SIGTERM or Ctrl-C stops it", file=sys.stderr,
              flush=True)
        exited = supervisor.wait()
        if exited is None:
            return 0
        code = exited_code(exited.process.returncode)
        print(f"monkeytown: {args.role} exited on its own (code {exited.process.returncode}); exiting {code}",
              file=sys.stderr, flush=True)
        return code
    finally:
        supervisor.stop_all()


def serving_database(settings: Settings) -> str:
    """The configured database (checked: one line if unreachable), else the embedded one `monkeytown up` runs under
    MONKEYTOWN_HOME; `serve` never starts a database, which its services share with others."""
    if settings.database_url:
        check_server(settings.database_url)
        return settings.database_url
    return running_database_url(settings)


def prepare_role(role: str, settings: Settings, url: str) -> Service:
    """What `role` needs before it starts, then the service. The API applies the landing migrations first (as `up`
    and `db upgrade` do): several replicas starting at once apply each one once."""
    code_server = (settings.code_server_host, settings.code_server_port or DEFAULT_CODE_SERVER_PORT)
    if role == "api":
        prepare_database(settings, url)
        return api_service(settings, url)
    if role == "code-server":
        return code_server_service(settings, url, code_server)
    if role == "dagster-webserver":
        return webserver_service(settings, url, code_server)
    if role == "dagster-daemon":
        return daemon_service(settings, url, code_server)
    raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")


def exited_code(returncode: int) -> int:
    """A service that ends on its own is a failure to its manager: its code, 128 + the signal that killed it (as a
    shell reports it), or 1 for a clean exit nobody asked for."""
    if returncode < 0:
        return 128 + -returncode
    return returncode or 1

