"""What several commands print the same way: errors and warnings in one line, and the BI role's preparation."""

from __future__ import annotations

import sys

from monkeytown.bi_role import bi_password, prepare_bi_role
from monkeytown.settings import Settings


def error(message: str) -> None:
    print(f"monkeytown: error: {message}", file=sys.stderr, flush=True)


def warning(message: str) -> None:
    print(f"monkeytown: warning: {message}", file=sys.stderr, flush=True)


def prepare_bi_role_or_warn(settings: Settings, url: str) -> None:
    """`db upgrade` and `up` go on without the BI role when the database user may not manage it, saying so."""
    if problem := prepare_bi_role(url, bi_password(settings)):
        warning(problem)
