"""The whole retention policy as of a day, in the order that keeps it safe: refuse while a blocking check
failed; archive, prove and drop every expired family day; only then anonymize and delete inactive players (so
no day is rewritten between its archive and its drop); then prune the platform's own history. What
`monkeytown retention run` does in one go and the daily Dagster jobs do step by step."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from ingest_api.system_events import record_history_pruned
from orchestration.retention.archive_then_drop import CONNECT_TIMEOUT_SECONDS, Result, RetentionReport, run_retention
from orchestration.retention.housekeeping import PruneOutcome, history_cutoff, prune_history
from orchestration.retention.housekeeping_tables import prune_history_tables
from orchestration.retention.players import PlayersOutcome, anonymize_inactive_players, delete_inactive_players
from orchestration.retention.policy import RetentionPolicy, expired_family_days
from orchestration.retention.safety import RetentionRefused, refuse_when_checks_failed
from orchestration.retention.store import ArchiveStore

if TYPE_CHECKING:
    import dagster as dg


@dataclass
class PolicyReport:
    archive: RetentionReport
    players: list[PlayersOutcome] = field(default_factory=list)
    pruned: list[PruneOutcome] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [*(day.line() for day in self.archive.days), *(outcome.line() for outcome in self.players),
                *(outcome.line() for outcome in self.pruned), self.summary()]

    def summary(self) -> str:
        """One line: what was (or, in a dry run, would be) archived, anonymized, deleted and pruned."""
        days = [day for day in self.archive.days if day.outcome is not Result.FAILED]
        players = {outcome.action: outcome.players for outcome in self.players}
        anonymized, deleted = players.get("players_anonymized", 0), players.get("players_deleted", 0)
        would = "would " if self.archive.dry_run else ""
        return (f"as of {self.archive.as_of}: {would}{'archive and drop' if would else 'archived and dropped'} "
                f"{len(days)} family days, {sum(day.rows for day in days)} rows; "
                f"{would}{'anonymize' if would else 'anonymized'} {anonymized} player{'' if anonymized == 1 else 's'}, "
                f"{would}{'delete' if would else 'deleted'} {deleted}; "
                f"{would}{'prune' if would else 'pruned'} {sum(outcome.rows for outcome in self.pruned)} "
                f"history items")


def apply_player_policy(database_url: str, key: bytes, as_of: date, policy: RetentionPolicy, *,
                        dry_run: bool = False) -> list[PlayersOutcome]:
    """Players inactive past the policy's days anonymized, then those inactive past its deletion days deleted.
    Refuses while an expired family day is still in PostgreSQL: rewriting it between its archive and its drop
    would fail the drop's proof."""
    with psycopg.connect(database_url, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True) as conn:
        if not dry_run and (waiting := expired_family_days(conn, as_of, policy)):
            raise RetentionRefused(f"players not anonymized: {len(waiting)} expired family day(s) are still in "
                                   f"PostgreSQL (the first {waiting[0].family} {waiting[0].day}); archive them first")
        return [anonymize_inactive_players(conn, key, as_of, policy.player_anonymize_days, dry_run=dry_run),
                delete_inactive_players(conn, as_of, policy.player_delete_days, dry_run=dry_run)]


def prune_platform_history(database_url: str, home: Path, instance: dg.DagsterInstance | None, as_of: date,
                           policy: RetentionPolicy, *, dry_run: bool = False) -> list[PruneOutcome]:
    """GX results, Dagster runs and ticks, log files, monitoring measurements and GitHub webhook deliveries older
    than the policy's history days, each kind recorded as a system event when it removed anything."""
    outcomes = prune_history(home, instance, as_of, policy.history_days, dry_run=dry_run)
    with psycopg.connect(database_url, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True) as conn:
        outcomes += prune_history_tables(conn, history_cutoff(as_of, policy.history_days), dry_run=dry_run)
    if not dry_run:
        for outcome in outcomes:
            if outcome.rows:
                record_history_pruned(database_url, as_of, outcome.what, outcome.rows, outcome.bytes)
    return outcomes


def apply_retention_policy(database_url: str, store: ArchiveStore, policy: RetentionPolicy, as_of: date, *,
                           key: bytes, home: Path, instance: dg.DagsterInstance | None = None,
                           failed_checks: list[str] = (), dry_run: bool = False) -> PolicyReport:
    """Every step of the policy as of `as_of`. Raises RetentionRefused (nothing done) when `failed_checks` names
    a blocking check whose latest run failed, and RetentionFailed when a family day failed (nothing after it)."""
    refuse_when_checks_failed(list(failed_checks))
    report = PolicyReport(run_retention(database_url, store, as_of, policy, dry_run=dry_run))
    report.players = apply_player_policy(database_url, key, as_of, policy, dry_run=dry_run)
    report.pruned = prune_platform_history(database_url, home, instance, as_of, policy, dry_run=dry_run)
    return report
