"""The `monkeytown` command line: every subcommand, its options, and the handler that runs it."""

from __future__ import annotations

import argparse

from monkeytown.cli import commands, retention
from monkeytown.cli.serve import ROLES, run_serve
from monkeytown.cli.up import run_up
from monkeytown.client import TRANSPORTS


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The parsed arguments; everything after `dbt` and `bench` belongs to those tools, as `dbt_args`/`bench_args`."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "bench":
        args.bench_args = extra
    elif args.command == "dbt":
        args.dbt_args = extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monkeytown", description="Monkeytown Analytics: the event pipeline.")
    subcommands = parser.add_subparsers(dest="command", required=True)

    up = subcommands.add_parser("up", help="run the whole platform in the foreground")
    up.add_argument("--simulate", action="store_true", help="also feed it simulated game traffic")
    up.set_defaults(handler=run_up)

    serve = subcommands.add_parser("serve", help="run one service in the foreground, for deployments that run them "
                                   "apart (SIGTERM or Ctrl-C stops it)")
    serve.add_argument("role", choices=list(ROLES), help="api: the API under gunicorn (applies the migrations first); "
                       "code-server: the Dagster code location as a gRPC server; dagster-webserver, dagster-daemon: "
                       "Dagster's UI and daemon, reaching the code server at MONKEYTOWN_CODE_SERVER_HOST/PORT")
    serve.set_defaults(handler=run_serve)

    db = subcommands.add_parser("db", help="the database").add_subparsers(dest="db_command", required=True)
    upgrade = db.add_parser("upgrade", help="apply the landing-schema migrations (idempotent)")
    upgrade.set_defaults(handler=commands.db_upgrade)
    url = db.add_parser("url", help="print the libpq URL of the active database, or of the read-only BI role")
    url.add_argument("--role", choices=["bi"], help="bi: monkeytown_bi, which BI tools use to read schema marts")
    url.set_defaults(handler=commands.db_url)

    errors = subcommands.add_parser("errors", help="refused and quarantined events").add_subparsers(
        dest="errors_command", required=True)
    replay = errors.add_parser("replay", help="re-submit pending refused or quarantined events through the same "
                               "validation; prints what landed, what was already stored and what stays refused")
    replay.add_argument("--reason", help="only rows refused for this reason (e.g. missing_field)")
    replay.add_argument("--dry-run", action="store_true", help="report what would happen; write nothing")
    replay.set_defaults(handler=commands.errors_replay)

    simulate = subcommands.add_parser("simulate", help="realistic synthetic game traffic against a running API")
    simulate.add_argument("--games", type=int, default=20, help="games to play; 0 plays until stopped")
    simulate.add_argument("--rate", type=float, default=None, help="target events per second (default: human pace)")
    simulate.add_argument("--url", help="API base URL (default: from MONKEYTOWN_API_HOST/PORT)")
    simulate.add_argument("--key", help="write key (default: the configured or dev key)")
    simulate.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable run")
    simulate.add_argument("--transport", choices=TRANSPORTS, default="http",
                          help="http: POST /api/events; ws: one WebSocket (GET /api/events/stream), as a game would")
    simulate.set_defaults(handler=commands.simulate)

    subcommands.add_parser("pipeline", help="materialize every asset once, in process; non-zero when a step or "
                        "blocking check fails").set_defaults(handler=commands.pipeline)

    retention.add_commands(subcommands)

    dbt = subcommands.add_parser("dbt", help="run dbt (any arguments) against the active database", add_help=False)
    dbt.set_defaults(handler=commands.dbt)  # every argument belongs to dbt

    bench = subcommands.add_parser("bench", help="run the benchmark suite; writes JSON and Markdown reports",
                                add_help=False)
    bench.set_defaults(handler=commands.bench)  # its options (--quick, --rounds, ...) belong to bench/run.py
    return parser
