"""`monkeytown simulate`: realistic synthetic game traffic against a running ingest API.

Small pieces, each testable alone: `new_session` scripts one player's games (pure, seeded), `plan_sends`
groups a script into POSTs, `FaultInjector` spoils a small share of events, `new_agent_run` makes the agent run
CI posts now and then, `Simulation` sends whatever is due through a transport (`HttpTransport`, or anything
with the same `post` in tests) and `Summary` counts what the API answered.
"""

from __future__ import annotations

import http.client
import itertools
import math
import random
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from heapq import heappop, heappush
from typing import Protocol, TextIO
from urllib.parse import urlsplit

import orjson

from ingest_api.contracts import AGENT_RUNS_ENDPOINT, EVENTS_ENDPOINT

THINK_SECONDS = (0.5, 4.0)  # between two moves, at human pace
BETWEEN_GAMES_SECONDS = (2.0, 8.0)
FILL_SECONDS = 5.0  # at human pace, about how long new sessions take to fill the empty seats
HUMAN_SESSIONS = 4
#: Events per second one session sends at human pace (2.25 s mean think time, plus pauses between games).
SESSION_EPS = 0.4
ABANDON_SHARE = 0.1
BATCH_SHARE = 0.02  # sends that flush a queue of 2-20 events at once, like a client back online
SKEWED_SESSION_SHARE = 0.04
FAULT_SHARE = 0.04
AGENT_RUN_SHARE = 0.05  # CI posts about one agent run per 20 games started
AGENTS = ("FounderAI", "AlphaOrchestrator", "BetaBuilder", "QualityGuardian")
AGENT_RUN_SECONDS = (30.0, 1800.0)
PROGRESS_SECONDS = 10.0
GIVE_UP_SECONDS = 60.0


class SimulationError(Exception):
    """An expected failure, told to the user in one line."""


class Stopped(Exception):
    """SIGTERM or SIGINT arrived while a request waited to be retried."""


# --- games -------------------------------------------------------------------------------------------


def _square(rng: random.Random) -> str:
    return rng.choice("abcdefgh") + rng.choice("12345678")


def _tictactoe(rng: random.Random) -> list[tuple[str, dict]]:
    return [("place", {"cell": cell}) for cell in rng.sample(range(9), rng.randint(5, 9))]


def _connect4(rng: random.Random) -> list[tuple[str, dict]]:
    return [("drop", {"column": rng.randrange(7)}) for _ in range(rng.randint(7, 42))]


def _chess(rng: random.Random) -> list[tuple[str, dict]]:
    kinds = rng.choices(["move", "capture", "check", "castle"], [75, 17, 6, 2], k=rng.randint(20, 80))
    return [(kind, {"from": _square(rng), "to": _square(rng)}) for kind in kinds]


def _checkers(rng: random.Random) -> list[tuple[str, dict]]:
    kinds = rng.choices(["move", "jump", "crown"], [70, 25, 5], k=rng.randint(15, 50))
    return [(kind, {"from": rng.randint(1, 32), "to": rng.randint(1, 32)}) for kind in kinds]


@dataclass(frozen=True)
class GameKind:
    moves: Callable[[random.Random], list[tuple[str, dict]]]  # (move_type, data) of one whole game
    popularity: int
    draw_share: float


GAMES = {
    "tictactoe": GameKind(_tictactoe, popularity=35, draw_share=0.35),
    "connect4": GameKind(_connect4, popularity=25, draw_share=0.05),
    "chess": GameKind(_chess, popularity=20, draw_share=0.15),
    "checkers": GameKind(_checkers, popularity=20, draw_share=0.1),
}


class Ids:
    """Session, game and event ids unique to one run, so a second run never collides with the first."""

    def __init__(self, run: str):
        self.run = run
        self._counter = itertools.count(1)

    def session(self) -> str:
        return f"s_{self.run}{next(self._counter):x}"

    def game(self) -> str:
        return f"g_{self.run}{next(self._counter):x}"

    def event(self) -> str:
        return f"sim-{self.run}-{next(self._counter)}"

    def agent_run(self) -> str:
        return f"sim-{self.run}.run{next(self._counter)}"


@dataclass
class Session:
    """One player's client: its clock (maybe hours off), its timestamp format and its scripted events."""

    session_id: str
    skew: float  # seconds the client's clock is ahead of the true one
    epoch_ms: bool
    script: list[tuple[float, dict]] = field(default_factory=list)  # (true time it happens, event)

    def client_time(self, moment: float) -> str | int:
        local = moment + self.skew
        if self.epoch_ms:
            return round(local * 1000)
        return datetime.fromtimestamp(local, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_session(rng: random.Random, ids: Ids, start: float, games: int, speed: float = 1.0) -> Session:
    """A player who arrives at `start` (epoch seconds) and plays `games` whole games back to back."""
    skewed = rng.random() < SKEWED_SESSION_SHARE
    skew = rng.choice([-1, 1]) * rng.uniform(2, 9) * 3600 if skewed else rng.uniform(-2, 2)
    session = Session(ids.session(), skew, epoch_ms=rng.random() < 0.5)

    def emit(moment: float, event: dict) -> None:
        session.script.append(
            (moment, {"event_id": ids.event(), **event, "timestamp": session.client_time(moment)})
        )

    moment = start
    for _ in range(games):
        game_type = rng.choices(list(GAMES), [kind.popularity for kind in GAMES.values()])[0]
        kind, game_id, started = GAMES[game_type], ids.game(), moment
        emit(moment, {"type": "game_start", "game_id": game_id, "game_type": game_type,
                      "session_id": session.session_id})
        moves = kind.moves(rng)
        abandoned = rng.random() < ABANDON_SHARE
        if abandoned:
            moves = moves[:rng.randint(1, len(moves) - 1)]
        for move_type, data in moves:
            moment += rng.uniform(*THINK_SECONDS) / speed
            emit(moment, {"type": "move", "game_id": game_id, "move_type": move_type,
                          "session_id": session.session_id, "data": data})
        if not abandoned:
            moment += rng.uniform(*THINK_SECONDS) / speed
            winner = None if rng.random() < kind.draw_share else rng.choice([session.session_id, "ai"])
            emit(moment, {"type": "game_end", "game_id": game_id, "duration": round(moment - started, 3),
                          "winner": winner})
        moment += rng.uniform(*BETWEEN_GAMES_SECONDS) / speed
    return session


def plan_sends(rng: random.Random, script: list[tuple[float, dict]]) -> list[tuple[float, list[dict]]]:
    """(when, events) per POST: mostly one event as it happens, sometimes a queued batch of 2-20."""
    sends, i = [], 0
    while i < len(script):
        chunk = script[i:i + (rng.randint(2, 20) if rng.random() < BATCH_SHARE else 1)]
        sends.append((chunk[-1][0], [event for _, event in chunk]))
        i += len(chunk)
    return sends


def _iso(moment: float, timespec: str = "seconds") -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


# --- agent runs --------------------------------------------------------------------------------------


def new_agent_run(rng: random.Random, ids: Ids, finished: float) -> dict:
    """An agent run as CI posts it when the run finishes at `finished` (epoch seconds): mostly succeeded,
    sometimes failed or cancelled, with fewer files touched when it did not get to the end."""
    status = rng.choices(["succeeded", "failed", "cancelled"], [80, 15, 5])[0]
    duration = rng.uniform(*AGENT_RUN_SECONDS) * (1.0 if status == "succeeded" else rng.uniform(0.1, 0.6))
    scale = 1 if status == "succeeded" else 4
    return {
        "run_id": ids.agent_run(),
        "agent_name": rng.choice(AGENTS),
        "files_created": rng.randint(0, 12) // scale,
        "files_modified": rng.randint(0, 40) // scale,
        "status": status,
        "started_at": _iso(finished - duration, "milliseconds"),
        "finished_at": _iso(finished, "milliseconds"),
        "duration_seconds": round(duration, 3),
    }


# --- faults ------------------------------------------------------------------------------------------


def _without(event: dict, *names: str) -> dict:
    return {k: v for k, v in event.items() if k not in names}


REQUIRED = {"game_start": ("game_id", "game_type", "session_id"), "move": ("game_id", "move_type"),
            "game_end": ("game_id", "duration")}
WRONG_TYPES = {"game_start": ("game_type", 7), "move": ("data", "e2e4"), "game_end": ("duration", "93.5")}


def _missing_field(rng: random.Random, event: dict, now: float) -> list[dict]:
    return [_without(event, rng.choice(REQUIRED[event["type"]]))]


def _schema_mismatch(rng: random.Random, event: dict, now: float) -> list[dict]:
    if rng.random() < 0.5:
        return [{**event, "type": rng.choice(["game_pause", "chat", "Move"])}]
    name, value = WRONG_TYPES[event["type"]]
    return [{**event, name: value}]


def _stale(rng: random.Random, event: dict, now: float) -> list[dict]:
    return [{**_without(event, "sent_at"), "timestamp": _iso(now - rng.uniform(25, 72) * 3600)}]


def _future(rng: random.Random, event: dict, now: float) -> list[dict]:
    return [{**_without(event, "sent_at"), "timestamp": _iso(now + rng.uniform(2, 12) * 3600)}]


def _duplicate(rng: random.Random, event: dict, now: float) -> list[dict]:
    return [event, event]


def _duplicate_conflict(rng: random.Random, event: dict, now: float) -> list[dict]:
    return [event, {**event, "data": {**event.get("data", {}), "edited": True}}]


def _anonymous_player(rng: random.Random, event: dict, now: float) -> list[dict]:
    return [{**event, "session_id": rng.choice(["", "guest player #7", "s" * 80])}]


FAULTS = {
    "missing_field": _missing_field,
    "schema_mismatch": _schema_mismatch,
    "stale": _stale,
    "future": _future,
    "duplicate": _duplicate,
    "duplicate_conflict": _duplicate_conflict,
    "anonymous_player": _anonymous_player,
}


class FaultInjector:
    """Replaces a `share` of events with what buggy or unlucky clients send, one fault per event."""

    def __init__(self, rng: random.Random, share: float = FAULT_SHARE):
        self.rng, self.share = rng, share
        self.injected: Counter[str] = Counter()

    def inject(self, event: dict, now: float) -> list[dict]:
        """What goes out instead of `event` (itself, a spoiled copy, or it and a re-send); `now` is the true
        time, so stale and future faults stay out of the window whatever the client's clock."""
        if self.rng.random() >= self.share:
            return [event]
        kinds = [k for k in FAULTS if k != "anonymous_player" or "session_id" in event]
        kind = self.rng.choice(kinds)
        self.injected[kind] += 1
        return FAULTS[kind](self.rng, event, now)


# --- counting and pacing -----------------------------------------------------------------------------


@dataclass
class Summary:
    requests: int = 0
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # by reason
    warnings: Counter[str] = field(default_factory=Counter)  # of accepted events
    games_started: int = 0
    games_ended: int = 0
    agent_runs: int = 0

    def record(self, events: int, status: int, answer: dict) -> None:
        self.requests += 1
        self.sent += events
        if status == 200 and isinstance(answer.get("results"), list):
            results = answer["results"]
        elif status in (200, 422):
            results = [answer]
        else:
            results = [{"status": "rejected", "reason": f"http_{status}"}] * events
        for result in results:
            if result.get("status") == "accepted":
                self.accepted += 1
                self.warnings.update(result.get("warnings", []))
            elif result.get("status") == "duplicate":
                self.duplicates += 1
            else:
                self.rejected[result.get("reason", "unknown")] += 1

    def line(self, elapsed: float) -> str:
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(self.rejected.items()))
        warnings = ", ".join(f"{name} {n}" for name, n in sorted(self.warnings.items()))
        return (
            f"{elapsed:.0f} s: {self.games_started} games started, {self.games_ended} ended, "
            f"{self.agent_runs} agent runs; "
            f"{self.sent} events in {self.requests} requests ({self.sent / max(elapsed, 1e-3):.1f}/s): "
            f"{self.accepted} accepted, {self.duplicates} duplicates, {sum(self.rejected.values())} rejected"
            + (f" ({reasons})" if reasons else "") + (f"; warnings: {warnings}" if warnings else "")
        )


@dataclass(frozen=True)
class Pace:
    sessions: int  # kept playing at the same time
    speed: float  # think times and pauses are divided by this


def pace_for(rate: float | None, games: int) -> Pace:
    """Human pace without a rate; with one, more sessions and shorter think times to send about `rate`
    events per second in all."""
    if rate is None:
        return Pace(min(HUMAN_SESSIONS, games or HUMAN_SESSIONS), 1.0)
    sessions = max(3, min(100, round(rate / 5)))  # one per 5 events/s: think times ~12x shorter than human
    if games:
        sessions = min(sessions, games)
    return Pace(sessions, rate / (sessions * SESSION_EPS))


# --- sending -----------------------------------------------------------------------------------------


class Transport(Protocol):
    def post(self, body: bytes, path: str = EVENTS_ENDPOINT) -> tuple[int, dict]:
        """(status, JSON answer) of POST `path` (/api/events or /api/agent-runs) after any retries; 200, 422
        or a 5xx."""


def _retry_after(value: str | None) -> float:
    try:
        # never zero, so a server answering Retry-After: 0 forever still exhausts the retry budget
        return min(max(float(value), 0.1), 60.0)
    except (TypeError, ValueError):
        return 1.0


class HttpTransport:
    """POSTs to the API over one keep-alive connection that rides out API restarts and back-pressure."""

    def __init__(self, url: str, key: str, wait: Callable[[float], bool], *,
                 give_up_after: float = GIVE_UP_SECONDS, timeout: float = 30.0):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SimulationError(f"{url!r} is not an http:// or https:// URL")
        try:
            port = parts.port
        except ValueError:
            raise SimulationError(f"{url!r} has an invalid port") from None
        connection = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._connect = lambda: connection(parts.hostname, port, timeout=timeout)
        self._base_url, self._base_path = url.rstrip("/"), parts.path.rstrip("/")
        self.url = self._base_url + EVENTS_ENDPOINT
        self._headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self._wait, self._give_up_after = wait, give_up_after
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _exchange(self, body: bytes, path: str) -> tuple[int, str | None, bytes]:
        if self._conn is None:
            self._conn = self._connect()
        self._conn.request("POST", self._base_path + path, body, self._headers)
        response = self._conn.getresponse()
        return response.status, response.getheader("Retry-After"), response.read()

    def _pause(self, seconds: float, waited: float, why: str) -> float:
        if waited + seconds > self._give_up_after:
            raise SimulationError(f"{why}; gave up after retrying for {waited:.0f} s")
        if self._wait(seconds):
            raise Stopped
        return waited + seconds

    def post(self, body: bytes, path: str = EVENTS_ENDPOINT) -> tuple[int, dict]:
        url = self._base_url + path
        waited, backoff = 0.0, 0.5
        while True:
            reused = self._conn is not None
            try:
                status, retry_after, data = self._exchange(body, path)
            except (OSError, http.client.HTTPException) as error:
                self.close()
                if not reused:
                    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
                    waited = self._pause(backoff, waited, f"cannot reach {url}: {reason}")
                    backoff = min(backoff * 2, 5.0)
                # else the server had closed the idle keep-alive connection: reconnect at once
                continue
            try:
                answer = orjson.loads(data)
            except orjson.JSONDecodeError:
                answer = {}
            answer = answer if isinstance(answer, dict) else {}
            if status in (429, 502, 503, 504):
                waited = self._pause(_retry_after(retry_after), waited,
                                     f"{url} kept answering {status} {answer.get('error', '')}".rstrip())
                continue
            if status in (200, 422) or status >= 500:
                return status, answer
            if status == 401:
                raise SimulationError(f"{url} refused the write key (401); pass the right one as --key")
            message = answer.get("message") or data[:200].decode(errors="replace")
            raise SimulationError(f"{url} answered {status}: {message}")


class StopFlag:
    """Set by SIGTERM or SIGINT. A plain flag polled while sleeping, because threading.Event.set from a signal
    handler can deadlock with the main thread's own wait on the same lock."""

    def __init__(self):
        self.stopped = False

    def set(self, *_signal) -> None:
        self.stopped = True

    def wait(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not self.stopped and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.2))
        return self.stopped


class Simulation:
    """Keeps `pace.sessions` players playing until `games` games were played (0: until stopped), sending
    each event when it is due."""

    def __init__(self, transport: Transport, *, games: int, pace: Pace, rng: random.Random, ids: Ids,
                 clock: Callable[[], float], wait: Callable[[float], bool], out: TextIO,
                 fault_share: float = FAULT_SHARE, agent_run_share: float = AGENT_RUN_SHARE):
        self.transport, self.games, self.pace, self.rng, self.ids = transport, games, pace, rng, ids
        self.clock, self.wait, self.out = clock, wait, out
        self.faults = FaultInjector(random.Random(rng.random()), fault_share)
        self.agent_run_share, self._ci_rng = agent_run_share, random.Random(rng.random())
        self.summary = Summary()
        self.started = clock()
        self._allotted = 0
        self._due: list[tuple[float, int, Session, list[tuple[float, list[dict]]]]] = []
        self._order = itertools.count()

    def _may_arrive(self) -> bool:
        return (not self.games or self._allotted < self.games) and len(self._due) < self.pace.sessions

    def _arrive(self, now: float) -> None:
        wanted = self.rng.randint(1, 3)
        if self.games:
            # no more than a fair share of what is left, so the sessions stay concurrent to the end
            left = self.games - self._allotted
            wanted = min(wanted, max(1, left // self.pace.sessions))
        self._allotted += wanted
        rng = random.Random(self.rng.random())
        session = new_session(rng, self.ids, now, wanted, self.pace.speed)
        sends = plan_sends(rng, session.script)
        sends.reverse()  # popped from the end
        heappush(self._due, (sends[-1][0], next(self._order), session, sends))

    def _send(self, session: Session, events: list[dict], now: float) -> None:
        sent_at = session.client_time(now)
        outgoing = [spoiled for e in events for spoiled in self.faults.inject({**e, "sent_at": sent_at}, now)]
        # a single event stays single (a fault's re-send is a second POST); a batch stays one batch
        bodies = [outgoing] if len(events) > 1 else [[e] for e in outgoing]
        for body in bodies:
            status, answer = self.transport.post(orjson.dumps(body if len(events) > 1 else body[0]))
            self.summary.record(len(body), status, answer)
        started = sum(e["type"] == "game_start" for e in events)
        self.summary.games_started += started
        self.summary.games_ended += sum(e["type"] == "game_end" for e in events)
        for _ in range(started):
            if self._ci_rng.random() < self.agent_run_share:
                self._send_agent_run(now)

    def _send_agent_run(self, now: float) -> None:
        run = new_agent_run(self._ci_rng, self.ids, now)
        status, answer = self.transport.post(orjson.dumps(run), AGENT_RUNS_ENDPOINT)
        self.summary.record(1, status, answer)
        self.summary.agent_runs += 1

    def run(self) -> Summary:
        """Until done or stopped; returns the summary (also kept in `self.summary` if a send fails)."""
        next_arrival, next_progress = self.started, self.started + PROGRESS_SECONDS
        try:
            while self._due or self._may_arrive():
                now = self.clock()
                if now >= next_progress:
                    self.progress(now)
                    next_progress = now + PROGRESS_SECONDS
                if self._may_arrive() and now >= next_arrival:
                    self._arrive(now)
                    arrivals_per_second = self.pace.sessions * self.pace.speed / FILL_SECONDS
                    next_arrival = now + self.rng.expovariate(arrivals_per_second)
                    continue
                due = min(self._due[0][0] if self._due else math.inf,
                          next_arrival if self._may_arrive() else math.inf, next_progress)
                # waiting zero seconds still notices a stop when the run is behind schedule
                if self.wait(max(0.0, due - now)):
                    break
                if due > now:
                    continue
                _, order, session, sends = heappop(self._due)
                self._send(session, sends.pop()[1], now)
                if sends:
                    heappush(self._due, (sends[-1][0], order, session, sends))
        except Stopped:
            pass
        return self.summary

    def progress(self, now: float) -> None:
        print(f"simulate: {self.summary.line(now - self.started)}", file=self.out, flush=True)


def run_simulation(url: str, key: str, games: int, rate: float | None, seed: int | None) -> int:
    if games < 0:
        print("monkeytown simulate: error: --games must be 0 (until stopped) or more", file=sys.stderr)
        return 2
    if rate is not None and not rate > 0:
        print("monkeytown simulate: error: --rate must be a positive number of events per second",
              file=sys.stderr)
        return 2
    stop = StopFlag()
    previous = {signum: signal.signal(signum, stop.set) for signum in (signal.SIGTERM, signal.SIGINT)}
    transport = None
    try:
        transport = HttpTransport(url, key, stop.wait)
        pace = pace_for(rate, games)
        simulation = Simulation(transport, games=games, pace=pace, rng=random.Random(seed),
                                ids=Ids(secrets.token_hex(4)), clock=time.time, wait=stop.wait,
                                out=sys.stdout)
        speed = "human pace" if rate is None else f"about {rate:g} events/s ({pace.speed:.1f}x human pace)"
        print(f"simulate: {games or 'endless'} games at {speed}, {pace.sessions} sessions at a time, "
              f"against {transport.url}" + ("; stop with Ctrl-C" if not games else ""), flush=True)
        try:
            simulation.run()
        finally:
            print(f"simulate: done after {simulation.summary.line(time.time() - simulation.started)}")
            injected = ", ".join(f"{kind} {n}" for kind, n in sorted(simulation.faults.injected.items()))
            print(f"simulate: faults injected: {injected or 'none'}", flush=True)
    except SimulationError as error:
        print(f"monkeytown simulate: error: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        if transport is not None:
            transport.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
