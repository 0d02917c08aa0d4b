"""`monkeytown up`'s console after the banner: one short line every few seconds (events accepted and refused per
second, the last pipeline run and its result, how far the marts are behind the raw events) instead of a line per
request, which scrolled the banner away."""

from __future__ import annotations

import threading
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import psycopg

from monkeytown.database import first_line

INTERVAL_SECONDS = 5.0
#: Every wait here is short: a slow database or Dagster costs one line, never the console.
TIMEOUT_SECONDS = 2

_ARRIVALS = """
SELECT (SELECT count(*) FROM raw.events WHERE received_at > now() - make_interval(secs => %(seconds)s)),
       (SELECT count(*) FROM raw.ingest_errors WHERE received_at > now() - make_interval(secs => %(seconds)s)),
       (SELECT max(received_at) FROM raw.events WHERE type IN ('game_start', 'move', 'game_end')),
       to_regclass('marts.games') IS NOT NULL
"""
_MARTS_THROUGH = "SELECT max(last_received_at) FROM marts.games"
_LAST_RUN = "{ runsOrError(limit: 1) { ... on Runs { results { jobName status updateTime } } } }"


@dataclass(frozen=True)
class Status:
    accepted_per_second: float
    refused_per_second: float
    marts: str  # how far marts.games is behind the newest game event
    last_run: str  # e.g. "refresh_core_models SUCCESS 12 s ago", or what kept us from knowing


def read_arrivals(conn: psycopg.Connection, seconds: float) -> tuple[float, float, str]:
    """(accepted/s and refused/s over the last `seconds`, how far marts.games is behind the newest game event)."""
    accepted, refused, newest_game_event, has_marts = conn.execute(_ARRIVALS, {"seconds": seconds}).fetchone()
    if not has_marts:
        marts = "no marts yet"
    elif newest_game_event is None:
        marts = "marts up to date"
    elif (through := conn.execute(_MARTS_THROUGH).fetchone()[0]) is None:
        marts = "marts.games still empty"
    else:
        marts = f"marts {max((newest_game_event - through).total_seconds(), 0):.0f} s behind the newest event"
    return accepted / seconds, refused / seconds, marts


def describe_last_run(dagster_ui: str, now: datetime) -> str:
    request = urllib.request.Request(f"{dagster_ui}/graphql", data=orjson.dumps({"query": _LAST_RUN}),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            runs = orjson.loads(response.read())["data"]["runsOrError"]["results"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"Dagster not answering ({type(error).__name__})"
    if not runs:
        return "no pipeline run yet"
    run = runs[0]
    ago = now.timestamp() - float(run["updateTime"] or now.timestamp())
    return f"{run['jobName']} {run['status']} {ago:.0f} s ago"


def status_line(status: Status, now: datetime) -> str:
    return (f"{now:%H:%M:%S}  events/s {status.accepted_per_second:.1f} accepted, "
            f"{status.refused_per_second:.1f} refused  |  last run: {status.last_run}  |  {status.marts}")


class StatusReporter(threading.Thread):
    """Prints a status line every INTERVAL_SECONDS until `stopping` is set."""

    def __init__(self, database_url: str, dagster_ui: str, stopping: threading.Event, out):
        super().__init__(name="monkeytown-status", daemon=True)
        self.database_url, self.dagster_ui, self.stopping, self.out = database_url, dagster_ui, stopping, out
        self._conn: psycopg.Connection | None = None

    def run(self) -> None:
        while not self.stopping.wait(INTERVAL_SECONDS):
            print(self.line(), file=self.out, flush=True)
        if self._conn is not None:
            self._conn.close()

    def line(self) -> str:
        now = datetime.now(UTC)
        last_run = describe_last_run(self.dagster_ui, now)
        try:
            accepted, refused, marts = read_arrivals(self._connection(), INTERVAL_SECONDS)
        except psycopg.Error as error:
            self._drop_connection()
            return f"{now:%H:%M:%S}  the database is not answering ({first_line(error)})  |  last run: {last_run}"
        return status_line(Status(accepted, refused, marts, last_run), now)

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.database_url, autocommit=True, connect_timeout=TIMEOUT_SECONDS,
                                         options=f"-c statement_timeout={TIMEOUT_SECONDS * 1000}")
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

