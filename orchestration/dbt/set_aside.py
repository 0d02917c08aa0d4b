"""Setting aside the raw rows that broke a model: moved to raw.ingest_errors like any quarantined row (reason
schema_mismatch, source pipeline, the model and the database's error in `detail`), so `monkeytown errors replay`
lands them once fixed, and announced as a rows_quarantined system event. No Dagster here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ingest_api.system_events import LISTED_EVENT_IDS, record_rows_quarantined
from orchestration.dbt.row_finder import Search
from orchestration.shared.quarantine import quarantine_rows

#: raw.ingest_errors.source of what the core dbt build quarantined (the raw contract check's is quality).
SOURCE = "pipeline"
#: The metadata key of the count, on the observation of the model the rows broke.
QUARANTINED_ROWS = "quarantined_rows"


@dataclass(frozen=True)
class SetAside:
    """The rows quarantined because they broke one node, and how they were found."""

    unique_id: str
    relation: str
    error: str  # the first line of the database error that failed the build
    event_ids: tuple[str, ...]
    search: Search

    def metadata(self) -> dict:
        """What the Dagster UI shows of it."""
        return {QUARANTINED_ROWS: len(self.event_ids), "quarantine_error": self.error,
                "quarantined_event_ids": list(self.event_ids[:LISTED_EVENT_IDS]),
                "quarantine_source": SOURCE, "row_search": describe_search(self.search)}

    def summary(self) -> str:
        one = len(self.event_ids) == 1
        listed = ", ".join(self.event_ids[:LISTED_EVENT_IDS]) + (", ..." if len(self.event_ids) > LISTED_EVENT_IDS
                                                                 else "")
        return (f"quarantined {len(self.event_ids)} row{'' if one else 's'} of raw.events that broke {self.relation}"
                f" ({self.error}): {listed}; {'it is' if one else 'they are'} in raw.ingest_errors (source {SOURCE})"
                f" and `monkeytown errors replay` lands {'it' if one else 'them'} once fixed")


def set_aside(database_url: str, searches: list[Search], build_errors: Mapping[str, str],
              run_id: str | None) -> list[SetAside]:
    """Quarantines every row the searches found, in one transaction, then records one system event per node.
    `build_errors`: the database error of each failed node, as the build reported it."""
    failing = [{"event_id": row.event_id, "occurred_at": row.occurred_at.isoformat(), "field": None,
                "rule": f"model {search.relation}: {row.error}"}
               for search in searches for row in search.rows]
    moved = quarantine_rows(database_url, failing, SOURCE)
    done = []
    for search in searches:
        event_ids = tuple(row.event_id for row in search.rows if row.event_id in moved)
        if not event_ids:
            continue
        error = build_errors.get(search.unique_id) or search.rows[0].error
        record_rows_quarantined(database_url, search.relation, error, list(event_ids), run_id)
        done.append(SetAside(search.unique_id, search.relation, error, event_ids, search))
    return done


def describe_search(search: Search) -> str:
    """marts.agent_runs: 2 of 16370 rows break it on their own (29 probes, 0.26 s)."""
    one = len(search.rows) == 1
    found = f"{len(search.rows)} of {search.candidates} rows {'breaks it on its' if one else 'break it on their'} own"
    if not search.rows:
        found = f"none of {search.candidates} rows breaks it alone"
    why = f"; {search.unexplained}" if search.unexplained else ""
    return f"{search.relation}: {found} ({search.statements} probes, {search.seconds:.2f} s){why}"
