"""`monkeytown retention run`, `monkeytown archive list` and `monkeytown archive restore`: their options here, their
handlers in retention_handlers.py, loaded only when one of them runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date

#: What `--source` names, as the families raw.events is split into (agent runs are kept, never archived).
FAMILIES = {"game": "client", "system": "server"}


def as_of_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None


def _handler(name: str) -> Callable:
    def handle(settings, args):
        from monkeytown.cli import retention_handlers  # pyarrow and boto3 (0.2 s) load for these commands only

        return getattr(retention_handlers, name)(settings, args)

    return handle


def add_commands(subcommands) -> None:
    retention = subcommands.add_parser("retention", help="the retention policy").add_subparsers(
        dest="retention_command", required=True)
    run = retention.add_parser("run", help="archive, prove and drop the raw.events days the policy expires")
    run.add_argument("--as-of", type=as_of_date, help="evaluate the policy as of this UTC day (default today)")
    run.add_argument("--dry-run", action="store_true", help="report what would be archived and dropped; change nothing")
    run.set_defaults(handler=_handler("retention_run"))

    archive = subcommands.add_parser("archive", help="the archive of expired days").add_subparsers(
        dest="archive_command", required=True)
    listing = archive.add_parser("list", help="the archived days per source, with rows, bytes and state")
    listing.add_argument("--verify", action="store_true", help="read every day back and check it against its manifest")
    listing.set_defaults(handler=_handler("archive_list"))
    restore = archive.add_parser("restore", help="load an archived day into a queryable table")
    restore.add_argument("--day", type=as_of_date, required=True, help="the UTC day, YYYY-MM-DD")
    restore.add_argument("--source", choices=sorted(FAMILIES), default="game", help="game (default) or system events")
    restore.set_defaults(handler=_handler("archive_restore"))
