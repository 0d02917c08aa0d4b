"""What one kind of the platform's own history lost to housekeeping: its name (the `what` of the history_pruned
system event), how many items went and, when known, how many bytes on disk."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

GX_VALIDATION_RESULTS = "gx_validation_results"
DAGSTER_RUNS = "dagster_runs"
DAGSTER_TICKS = "dagster_ticks"
LOG_FILES = "log_files"
MONITORING_MEASUREMENTS = "monitoring_measurements"
GITHUB_DELIVERIES = "github_deliveries"


@dataclass(frozen=True)
class PruneOutcome:
    what: str  # one of the names above
    rows: int  # items removed (a dry run: items that would be)
    bytes: int | None  # freed on disk; None where the storage does not say (Dagster's database)
    dry_run: bool = False

    def line(self) -> str:
        size = "-" if self.bytes is None else f"{self.bytes} bytes"
        verb = "would prune" if self.dry_run else "pruned"
        return f"{self.what}: {verb} {self.rows}, {size}"


def history_cutoff(as_of: date | datetime, days: int) -> datetime:
    """The instant before which history goes: `days` before `as_of` (a date counts from its midnight UTC, as the
    retention policy counts days; a naive datetime is UTC)."""
    if days < 1:
        raise ValueError(f"history is kept at least 1 day, not {days}")
    if not isinstance(as_of, datetime):
        as_of = datetime.combine(as_of, time(), UTC)
    elif as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    return as_of - timedelta(days=days)
