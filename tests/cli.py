"""The `monkeytown` command as a user runs it: a subprocess of this venv's Python, with only the MONKEYTOWN_*
settings a test gives it (none leak in from the developer's shell)."""

from __future__ import annotations

import os
import subprocess
import sys

MONKEYTOWN = [sys.executable, "-m", "monkeytown.cli"]


def monkeytown_env(home=None, database_url: str | None = None, **settings: str) -> dict:
    """This process's environment less every MONKEYTOWN_* variable, plus the ones given (as names without the
    MONKEYTOWN_ prefix: rate_limit="5/year")."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONKEYTOWN_")}
    if home is not None:
        env["MONKEYTOWN_HOME"] = str(home)
    if database_url is not None:
        env["MONKEYTOWN_DATABASE_URL"] = database_url
    env.update({f"MONKEYTOWN_{name.upper()}": value for name, value in settings.items()})
    return env


def run_monkeytown(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(MONKEYTOWN + list(args), env=env, capture_output=True, text=True, timeout=timeout)
