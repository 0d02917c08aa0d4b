"""The real-time counters of GET /api/counters: exact, read in one statement from the live tables that the landing
statement keeps with the events (migration 0007), so they move the moment an event commits.

Every counter counts by arrival (received_at, the API's clock), in whole seconds up to the moment of reading
(`as_of`, the database's clock): `events_last_minute` counts the events received at or after the start of the second
one minute before `as_of`. Every event counts (game events, agent runs, system events); a duplicate never does. A
replayed event arrives when it is replayed; a later quarantine or retention does not take an event back.
A game is started when its first game_start arrives, and in progress until its first game_end arrives, for at most
MAX_EVENT_AGE (a game silent that long is abandoned); a game_end that arrives first keeps it from ever counting.
A player online is a session (session_id) with an event received within the last five minutes; anonymous events
(no well-formed session) count as events only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources

import psycopg

from ingest_api.contracts import MAX_EVENT_AGE

COUNTERS_SQL = resources.files("ingest_api").joinpath("sql/counters.sql").read_text("utf-8")

#: The windows; the landing statement keeps each live row a minute longer than the longest window that reads it.
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
ONLINE_WINDOW = timedelta(minutes=5)
IN_PROGRESS_WINDOW = MAX_EVENT_AGE


@dataclass(frozen=True)
class Counters:
    as_of: datetime
    events_last_minute: int
    events_last_hour: int
    games_started_last_hour: int
    games_in_progress: int
    players_online: int

    def as_json(self) -> dict:
        return {**asdict(self), "as_of": self.as_of.astimezone(UTC).isoformat().replace("+00:00", "Z")}


def read_counters(conn: psycopg.Connection) -> Counters:
    """The counters as of now, from one statement (one snapshot)."""
    row = conn.execute(COUNTERS_SQL, {
        "minute": MINUTE, "hour": HOUR, "online": ONLINE_WINDOW, "in_progress": IN_PROGRESS_WINDOW,
    }).fetchone()
    return Counters(*row)
