"""Weeks of game traffic for the transform benchmark, landed as the API would have landed it.

The events are what `monkeytown simulate` sends (`monkeytown.simulator`: sessions of 1-3 games of tictactoe,
connect4, chess or checkers at human pace, 10% abandoned, a share of clients with skewed clocks or epoch-ms
timestamps, a few batched sends, an agent run for about one game start in 20, and its fault injector's
anonymous players, duplicates and refused events), plus a server_start now and then. Every event goes through
the API's own door (`ingest_api.door.admit`), so each column of raw.events, raw.event_ids and raw.ingest_errors
means exactly what the API writes; only the transport differs: the weeks before the benchmark's first hour go
in by COPY, each later hour through the API's landing statement (`ingest_api.landing.land`).

Arrival (received_at) is the send time plus a network delay; a small share of sends come late (a client that
was offline), from a minute up to 23 h after the events happened, so an hour of arrivals also brings a few
events of games from earlier hours.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import psycopg

from ingest_api.contracts import AGENT_RUNS_ENDPOINT
from ingest_api.door import LandingRow, Rejection, admit
from ingest_api.landing import LandingJob, Provenance, conflict_rejection, land
from monkeytown.simulator import AGENT_RUN_SHARE, FaultInjector, Ids, new_agent_run, new_session, plan_sends

#: Sends refused or spoiled by the simulator's fault injector (its default is 4%); this gives a few thousand
#: raw.ingest_errors rows per million events, and a few hundred anonymous players.
FAULT_SHARE = 0.005
#: Sends that arrive late (the client was offline), and how late.
LATE_SEND_SHARE = 0.004
LATE_SECONDS = (60.0, 23 * 3600.0)
NETWORK_SECONDS = (0.02, 0.4)
#: A server_start about this often (mean hours): the API restarting now and then.
SERVER_START_HOURS = 20.0
#: Events per session of `monkeytown simulate`, measured once per seed to set the session arrival rate.
CALIBRATION_SESSIONS = 2000

EVENT_COLUMNS = ("event_id", "type", "contract_version", "occurred_at", "client_timestamp", "sent_at",
                 "received_at", "session_id", "player_id", "is_anonymous", "game_id", "source", "payload")
ERROR_COLUMNS = ("received_at", "event_id", "event_type", "reason", "field", "detail", "payload", "source",
                 "request_id", "key_name")
COPY_EVENTS = f"COPY raw.events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
COPY_LEDGER = "COPY raw.event_ids (event_id, occurred_at, received_at, payload_hash) FROM STDIN"
COPY_ERRORS = f"COPY raw.ingest_errors ({', '.join(ERROR_COLUMNS)}) FROM STDIN"
PROVENANCE = Provenance()  # what the API records for a request without a request id or key name


@dataclass
class Arrival:
    """What one send brought: the rows to land and the refusals, received at one moment."""

    received_at: datetime
    rows: list[LandingRow]
    rejections: list[Rejection]


@dataclass
class Hour:
    """The arrivals of one hour after the base load."""

    start: datetime
    arrivals: list[Arrival] = field(default_factory=list)

    @property
    def events(self) -> int:
        return len({row.event_id for a in self.arrivals for row in a.rows})

    @property
    def errors(self) -> int:
        return sum(len(a.rejections) for a in self.arrivals)


def _dt(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


def events_per_session(seed: int) -> float:
    """The mean events per session of the simulator (1-3 games each), game starts' agent runs included."""
    rng, ids = random.Random(seed), Ids("calibrate")
    total = 0
    for _ in range(CALIBRATION_SESSIONS):
        script = new_session(rng, ids, 0.0, rng.randint(1, 3)).script
        starts = sum(event["type"] == "game_start" for _, event in script)
        total += len(script) + starts * AGENT_RUN_SHARE
    return total / CALIBRATION_SESSIONS


class Traffic:
    """Sessions arriving at random (Poisson) over [start, end), so that `events_per_day` events happen a day."""

    def __init__(self, seed: int, start: datetime, end: datetime, events_per_day: float):
        self.seed, self.start, self.end = seed, start.timestamp(), end.timestamp()
        self.rng = random.Random(seed)
        self.ids = Ids(f"b{seed % 100000}")
        self.faults = FaultInjector(random.Random(self.rng.random()), FAULT_SHARE)
        self.ci_rng = random.Random(self.rng.random())
        self.sessions_per_second = events_per_day / events_per_session(seed) / 86400

    def _server_starts(self) -> Iterator[Arrival]:
        rng = random.Random(self.seed + 1)
        moment = self.start + rng.expovariate(1 / (SERVER_START_HOURS * 3600))
        while moment < self.end:
            event = {"event_id": f"server_start-{rng.getrandbits(128):032x}", "type": "server_start",
                     "event_data": {"version": "0.1.0", "pid": rng.randint(100, 60000), "host": "bench",
                                    "workers": 2}}
            row = admit(event, _dt(moment), endpoint=None)
            yield Arrival(row.received_at, [row], [])
            moment += rng.expovariate(1 / (SERVER_START_HOURS * 3600))

    def _sends(self, session_start: float) -> Iterator[Arrival]:
        rng = random.Random(self.rng.random())
        session = new_session(rng, self.ids, session_start, rng.randint(1, 3))
        for moment, events in plan_sends(rng, session.script):
            late = rng.uniform(*LATE_SECONDS) if rng.random() < LATE_SEND_SHARE else 0.0
            sent = moment + late
            received = sent + rng.uniform(*NETWORK_SECONDS)
            received_at = _dt(received)
            sent_at = session.client_time(sent)
            rows, rejections = [], []
            for event in events:
                for outgoing in self.faults.inject({**event, "sent_at": sent_at}, received):
                    verdict = admit(outgoing, received_at)
                    (rows if isinstance(verdict, LandingRow) else rejections).append(verdict)
            yield Arrival(received_at, rows, rejections)
            for _ in range(sum(event["type"] == "game_start" for event in events)):
                if self.ci_rng.random() < AGENT_RUN_SHARE:  # CI posts a finished agent run, as the simulator does
                    run = new_agent_run(self.ci_rng, self.ids, received)
                    verdict = admit(run, received_at, endpoint=AGENT_RUNS_ENDPOINT)
                    yield Arrival(received_at, [verdict] if isinstance(verdict, LandingRow) else [],
                                  [verdict] if isinstance(verdict, Rejection) else [])

    def arrivals(self) -> Iterator[Arrival]:
        """Every send, roughly in time order (sessions one after another, each in its own order)."""
        servers = self._server_starts()
        next_server = next(servers, None)
        moment = self.start + self.rng.expovariate(self.sessions_per_second)
        while moment < self.end:
            while next_server is not None and next_server.received_at.timestamp() <= moment:
                yield next_server
                next_server = next(servers, None)
            yield from self._sends(moment)
            moment += self.rng.expovariate(self.sessions_per_second)
        if next_server is not None:
            yield next_server
            yield from servers


def landed_rows(arrival: Arrival) -> tuple[list[LandingRow], list[Rejection]]:
    """What `land` keeps of one send: the first row per event_id, and the refusals plus a duplicate_conflict
    for a later copy whose payload differs (the simulator's duplicates come within one send)."""
    kept: dict[str, LandingRow] = {}
    refused = list(arrival.rejections)
    for row in arrival.rows:
        first = kept.setdefault(row.event_id, row)
        if first is not row and first.payload_hash != row.payload_hash:
            refused.append(conflict_rejection(row))
    return list(kept.values()), refused


def _error_row(rejection: Rejection) -> tuple:
    return (rejection.received_at, rejection.event_id, rejection.event_type, rejection.reason, rejection.field,
            rejection.message, rejection.payload, PROVENANCE.source, PROVENANCE.request_id, PROVENANCE.key_name)


def ensure_partitions(url: str, first: date, last: date) -> int:
    """The day partitions of raw.events from `first` to `last` (UTC days, inclusive)."""
    days = (last - first).days + 1
    with psycopg.connect(url, autocommit=True) as conn:
        for offset in range(days):
            conn.execute("SELECT raw.ensure_events_partition(%s)", (first + timedelta(days=offset),))
    return days


@dataclass
class Loaded:
    events: int
    errors: int
    hours: list[Hour]
    counts_by_type: dict[str, int]


def load(url: str, traffic: Traffic, first_hour: datetime, hours: int) -> Loaded:
    """COPYs every arrival before `first_hour` into raw.events, raw.event_ids and raw.ingest_errors (one
    transaction each table, two connections side by side); keeps the arrivals of the `hours` hours after it
    for `land_hour`, and drops later ones."""
    cutoff, end = first_hour, first_hour + timedelta(hours=hours)
    buckets = [Hour(first_hour + timedelta(hours=k)) for k in range(hours)]
    starts = [b.start for b in buckets]
    errors: list[tuple] = []
    events, by_type = 0, {}
    with psycopg.connect(url, options="-c TimeZone=UTC") as events_conn, \
            psycopg.connect(url, options="-c TimeZone=UTC") as ledger_conn, \
            events_conn.cursor().copy(COPY_EVENTS) as events_copy, \
            ledger_conn.cursor().copy(COPY_LEDGER) as ledger_copy:
        for arrival in traffic.arrivals():
            if arrival.received_at >= end:
                continue
            if arrival.received_at >= cutoff:
                buckets[bisect.bisect_right(starts, arrival.received_at) - 1].arrivals.append(arrival)
                continue
            rows, refused = landed_rows(arrival)
            for row in rows:
                events_copy.write_row((row.event_id, row.type, row.contract_version, row.occurred_at,
                                       row.client_timestamp, row.sent_at, row.received_at, row.session_id,
                                       row.player_id, row.is_anonymous, row.game_id, row.source, row.payload))
                ledger_copy.write_row((row.event_id, row.occurred_at, row.received_at, row.payload_hash))
                by_type[row.type] = by_type.get(row.type, 0) + 1
            events += len(rows)
            errors += [_error_row(r) for r in refused]
    with psycopg.connect(url, options="-c TimeZone=UTC") as conn, conn.cursor().copy(COPY_ERRORS) as copy:
        for row in errors:
            copy.write_row(row)
    for bucket in buckets:  # a late send was generated with its session, so out of arrival order
        bucket.arrivals.sort(key=lambda arrival: arrival.received_at)
    return Loaded(events, len(errors), buckets, by_type)


def land_hour(url: str, hour: Hour) -> dict:
    """One hour of arrivals through the API's landing statement, a send at a time as the API groups them
    (well, one transaction a send); returns what landed."""
    with psycopg.connect(url, autocommit=True) as conn:
        for arrival in hour.arrivals:
            land(conn, [LandingJob(arrival.rows, arrival.rejections, PROVENANCE)])
    return {"start": hour.start.isoformat(), "events": hour.events, "errors": hour.errors,
            "sends": len(hour.arrivals)}
