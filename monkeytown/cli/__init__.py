"""`monkeytown`: the console script. Parses the command line, reads the settings once, runs the handler, and turns
the failures a user can fix into one line and an exit code."""

from __future__ import annotations

import psycopg

from monkeytown.cli.output import error
from monkeytown.database import EmbeddedDatabaseError, first_line
from monkeytown.settings import SettingsError, load_settings
from monkeytown.supervisor import ChildFailed


def main(argv: list[str] | None = None) -> int:
    from monkeytown.cli.parser import parse  # the parser imports every command; `monkeytown.cli` alone stays light

    args = parse(argv)
    try:
        return args.handler(load_settings(), args)
    except (SettingsError, EmbeddedDatabaseError, ChildFailed) as problem:
        error(str(problem))
        return 2
    except psycopg.OperationalError as problem:
        error(f"the database failed: {first_line(problem)}")
        return 2
    except KeyboardInterrupt:
        return 130


__all__ = ["main"]
