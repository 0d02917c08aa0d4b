"""The handlers of `monkeytown retention run`, `monkeytown archive list` and `monkeytown archive restore`: thin
over orchestration/retention (the whole policy as of a day; reading an archived day back)."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, date, datetime

import psycopg
from psycopg import sql

from ingest_api.migrate import upgrade
from monkeytown.cli.output import error
from monkeytown.cli.retention import FAMILIES
from monkeytown.database import active_database
from monkeytown.secret_files import anonymization_key
from monkeytown.settings import Settings
from orchestration.environment import dagster_environment
from orchestration.instance import dagster_home
from orchestration.retention.archive_then_drop import RetentionFailed
from orchestration.retention.columns import COLUMNS
from orchestration.retention.parquet_day import verify_day
from orchestration.retention.policy import RetentionPolicy
from orchestration.retention.restore import archived_days, iter_day_rows
from orchestration.retention.store import archive_store_for

FAMILY_NAMES = {family: name for name, family in FAMILIES.items()}
RESTORE_SCHEMA = "archive"


def recorded_check_failures(url: str, settings: Settings):
    """(the Dagster instance `monkeytown up` runs, the blocking checks whose latest run there failed); (None, [])
    before the first `monkeytown up`, when no check has a recorded run."""
    folder = dagster_home(settings.home)
    if not (folder / "dagster.yaml").exists():
        return None, []
    # Dagster and the code location load for `retention run` only: archive list and restore stay quick
    import dagster as dg

    from orchestration.definitions import blocking_checks
    from orchestration.retention.safety import failed_blocking_checks

    os.environ.update(dagster_environment(url, settings.home))
    instance = dg.DagsterInstance.from_config(str(folder))
    return instance, failed_blocking_checks(instance, blocking_checks())


def retention_run(settings: Settings, args: argparse.Namespace) -> int:
    from orchestration.retention.apply import apply_retention_policy
    from orchestration.retention.safety import RetentionRefused

    as_of = args.as_of or datetime.now(UTC).date()
    store = archive_store_for(settings)
    with active_database(settings) as url:
        upgrade(url)
        instance, failed = recorded_check_failures(url, settings)
        try:
            report = apply_retention_policy(
                url, store, RetentionPolicy.from_settings(settings), as_of,
                key=anonymization_key(settings.home, settings.anonymization_key), home=settings.home,
                instance=instance, failed_checks=failed, dry_run=args.dry_run)
        except RetentionRefused as refused:
            error(str(refused))
            return 1
        except RetentionFailed as failed:
            for line in failed.report.lines():
                print(line)
            error(f"retention stopped at {failed.report.failure.family} {failed.report.failure.day}: "
                  f"{failed.report.failure.error}; nothing after it was dropped, and a rerun finishes it")
            return 1
    for line in report.lines():
        print(line)
    return 0


def archive_list(settings: Settings, args: argparse.Namespace) -> int:
    store = archive_store_for(settings)
    manifests = archived_days(store)
    if not manifests:
        print(f"nothing archived yet in {settings.archive_url}")
        return 0
    print(f"{'source':<8} {'day':<10} {'rows':>10} {'bytes':>12}  {'state':<10} object")
    for manifest in manifests:
        name = FAMILY_NAMES.get(manifest.family, manifest.family)
        # reading every object back is the honest state, and costs about 4 s per million rows
        state = verify_day(store, manifest.family, manifest.day).state if args.verify else "manifest"
        print(f"{name:<8} {manifest.day.isoformat():<10} {manifest.rows:>10} {manifest.bytes:>12}  {state:<10} "
              f"{manifest.family}/{manifest.day:%Y/%m/%d}/{manifest.data_object}")
    return 0


def archive_restore(settings: Settings, args: argparse.Namespace) -> int:
    family = FAMILIES[args.source]
    table = f"restored_{args.source}_events_{args.day:%Y%m%d}"
    store = archive_store_for(settings)
    with active_database(settings) as url, psycopg.connect(url) as conn:
        restored = restore_day(conn, store, family, args.day, table)
    print(f"restored {restored} rows into {RESTORE_SCHEMA}.{table}")
    return 0


def restore_day(conn: psycopg.Connection, store, family: str, day: date, table: str) -> int:
    """The archived day, checked against its manifest, into archive.<table> (replaced if it exists), one
    transaction; returns the rows loaded."""
    target = sql.Identifier(RESTORE_SCHEMA, table)
    columns = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    with conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(RESTORE_SCHEMA)))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
        conn.execute(sql.SQL("CREATE TABLE {} (LIKE raw.events)").format(target))
        rows = 0
        with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(target, columns)) as copy:
            for row in iter_day_rows(store, family, day):
                copy.write_row(row)
                rows += 1
    return rows
