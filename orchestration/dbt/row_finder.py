"""Which raw rows make a failed dbt node fail, each on its own: the rows the build read are probed through the
node's own SQL in chunks, and a chunk that fails is halved until single rows remain (n candidates and b bad rows
cost about n/chunk + 2·b·log2(chunk) statements), all in one transaction that is rolled back, each probe inside
a savepoint. A failure no single row reproduces, or that is not about data, finds nothing."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

from orchestration.dbt.probe import CANDIDATES, Probe, probe_for, probe_statement, target_table_statement

#: Rows per probe before halving: a statement over this many rows takes milliseconds.
CHUNK_ROWS = 5000
#: A poison pill is a few rows; when more break a node, the node (a cast gone wrong) is the likelier culprit,
#: and a person should decide: nothing is quarantined for it.
MAX_ROWS = 100
#: Each probe, and the whole search's connection, has a bound.
PROBE_TIMEOUT = "60s"
#: Errors a row's values cause (SQLSTATE): any data exception (class 22: a cast, an overflow, a bad date), a null
#: or a check the contract refuses.
DATA_ERROR_CLASS = "22"
ROW_ERRORS = ("23502", "23514")

_SQL = resources.files("orchestration.dbt").joinpath("sql")
CANDIDATES_SQL = _SQL.joinpath("poison_candidates.sql").read_text("utf-8")


class NotCausedByRows(Exception):
    """The probe fails whatever rows it reads, or for a reason that is not the data's."""


@dataclass(frozen=True)
class BadRow:
    event_id: str
    occurred_at: datetime
    error: str  # the first line of the database's error for this row alone


@dataclass
class Search:
    """What the search over one node's candidates found, and what it cost."""

    unique_id: str
    relation: str
    candidates: int = 0
    rows: list[BadRow] = field(default_factory=list)
    statements: int = 0
    seconds: float = 0.0
    #: why rows were not (all) found: a failure no single row reproduces, not about data, or too many rows
    unexplained: str | None = None


@dataclass
class Bisection:
    positions: dict[int, str] = field(default_factory=dict)  # position -> its error
    probes: int = 0
    unexplained: str | None = None


def bisect(count: int, probe: Callable[[int, int], str | None], chunk: int = CHUNK_ROWS,
           limit: int = MAX_ROWS) -> Bisection:
    """The positions in [0, count) whose probe fails on its own. `probe(first, stop)` answers the error of the
    rows [first, stop), or None; it raises NotCausedByRows when the failure is none of theirs. A range that fails
    while both its halves pass holds a failure no single row causes: noted, and none of its rows is named."""
    found = Bisection()

    def run(first: int, stop: int) -> str | None:
        found.probes += 1
        return probe(first, stop)

    def descend(first: int, stop: int, error: str) -> None:
        if len(found.positions) > limit:
            return
        if stop - first == 1:
            found.positions[first] = error
            return
        middle = (first + stop) // 2
        halves = [(first, middle, run(first, middle)), (middle, stop, run(middle, stop))]
        if not any(error for _, _, error in halves):
            found.unexplained = f"rows {first}-{stop - 1} fail together, no one of them alone: {error}"
        for low, high, half_error in halves:
            if half_error:
                descend(low, high, half_error)

    if run(0, 0) is not None:
        raise NotCausedByRows("it fails without reading a single row")
    for first in range(0, count, chunk):
        stop = min(first + chunk, count)
        error = run(first, stop)
        if error:
            descend(first, stop, error)
        if len(found.positions) > limit:
            found.unexplained = f"more than {limit} rows fail on their own: more likely the model than the data"
            found.positions.clear()
            break
    return found


def find_bad_rows(database_url: str, manifest: Mapping[str, Any], unique_ids: list[str],
                  since: Callable[[psycopg.Connection, str], datetime | None]) -> list[Search]:
    """For each failed node that reads raw.events: the raw rows that arrived from `since(conn, unique_id)` on
    (None: every row) and make its SQL fail alone. Writes nothing."""
    searches = []
    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
        raw_columns = [name for (name,) in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'raw.events'::regclass AND attnum > 0"
            " AND NOT attisdropped ORDER BY attnum")]
        for unique_id in unique_ids:
            probe = probe_for(manifest, unique_id, raw_columns)
            if probe is not None:
                searches.append(_search(conn, probe, since(conn, unique_id)))
    return searches


def _search(conn: psycopg.Connection, probe: Probe, since: datetime | None) -> Search:
    search = Search(probe.unique_id, probe.relation)
    started = time.perf_counter()
    with conn.transaction(force_rollback=True):
        conn.execute("SELECT set_config('statement_timeout', %s, true)", (PROBE_TIMEOUT,))
        conn.execute("SET LOCAL jit = off")  # as the models run (dbt_project.yml): each probe is short
        conn.execute(CANDIDATES_SQL, {"since": since})
        conn.execute(sql.SQL("CREATE INDEX ON pg_temp.{} (probe_position)").format(sql.Identifier(CANDIDATES)))
        conn.execute(sql.SQL("ANALYZE pg_temp.{}").format(sql.Identifier(CANDIDATES)))
        search.candidates = conn.execute(sql.SQL("SELECT count(*) FROM pg_temp.{}").format(
            sql.Identifier(CANDIDATES))).fetchone()[0]
        target = target_table_statement(probe)
        if target is not None:
            conn.execute(target)
        try:
            bisection = bisect(search.candidates, lambda first, stop: _probe(conn, probe, first, stop))
        except NotCausedByRows as exc:
            bisection = Bisection(unexplained=str(exc))
        search.statements = bisection.probes
        search.unexplained = bisection.unexplained
        keys = {position: (event_id, occurred_at) for position, event_id, occurred_at in conn.execute(
            sql.SQL("SELECT probe_position, event_id, occurred_at FROM pg_temp.{} WHERE probe_position = ANY(%s)")
            .format(sql.Identifier(CANDIDATES)), (list(bisection.positions),))}
    search.rows = [BadRow(*keys[position], error) for position, error in sorted(bisection.positions.items())]
    search.seconds = time.perf_counter() - started
    return search


def _probe(conn: psycopg.Connection, probe: Probe, first: int, stop: int) -> str | None:
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(probe_statement(probe, first, stop))
    except psycopg.Error as exc:
        if is_row_error(exc):
            return first_line(exc)
        raise NotCausedByRows(f"not a data error: {first_line(exc)}") from exc
    return None


def is_row_error(error: psycopg.Error) -> bool:
    state = error.sqlstate or ""
    return state.startswith(DATA_ERROR_CLASS) or state in ROW_ERRORS


def first_line(error: BaseException) -> str:
    diag = getattr(error, "diag", None)
    message = (diag.message_primary if diag is not None else None) or str(error)
    return message.strip().splitlines()[0] if message.strip() else type(error).__name__
