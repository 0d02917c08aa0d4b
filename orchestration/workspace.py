"""The Dagster workspace `monkeytown up` hands its webserver and daemon: one gRPC code server of the code location
that both reach, as Dagster's own deployments run it (`dagster dev`, the Helm chart's user-code deployment), instead
of each loading the code location into a server of its own (about 430 MB each). The committed workspace.yaml
(python_module) stays what `dagster dev -w workspace.yaml` reads."""

from __future__ import annotations

import os
from pathlib import Path

#: The name a python_module entry gives the location (its module): the same here, so that the instance's schedule
#: and sensor states, which are keyed by it, carry over.
CODE_LOCATION = "orchestration.definitions"
REPOSITORY_ROOT = Path(__file__).resolve().parent.parent


def code_server_command(dagster: str, host: str, port: int) -> list[str]:
    """`dagster code-server start` for the code location: a small proxy that serves it from a child process, so that
    the UI's Reload reloads the code without restarting anything else."""
    return [dagster, "code-server", "start", "--module-name", CODE_LOCATION,
            "--working-directory", str(REPOSITORY_ROOT), "--location-name", CODE_LOCATION,
            "--host", host, "--port", str(port)]


def grpc_workspace(host: str, port: int) -> str:
    """A workspace.yaml whose one location is the code server at host:port."""
    return ("load_from:\n"
            "  - grpc_server:\n"
            f"      host: {host}\n"
            f"      port: {port}\n"
            f"      location_name: {CODE_LOCATION}\n")


def write_grpc_workspace(path: Path, host: str, port: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # the webserver and the daemon may write it at once: each reads a whole file
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(grpc_workspace(host, port))
    partial.replace(path)
    return path
