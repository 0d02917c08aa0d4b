"""`monkeytown simulate`: keeps sessions playing against a running ingest API and counts what it answered."""

from __future__ import annotations

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
from heapq import heappop, heappush
from typing import TextIO

import orjson

from ingest_api.contracts import AGENT_RUNS_ENDPOINT
from monkeytown.client import ClientError, Stopped, Transport, open_transport
from monkeytown.simulator.faults import FAULT_SHARE, FaultInjector
from monkeytown.simulator.games import AGENT_RUN_SHARE, Ids, Session, new_agent_run, new_session, plan_sends
from monkeytown.simulator.pacing import FILL_SECONDS, Pace, StopFlag, pace_for

PROGRESS_SECONDS = 10.0


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


def run_simulation(url: str, key: str, games: int, rate: float | None, seed: int | None,
                   transport_kind: str = "http") -> int:
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
        transport = open_transport(transport_kind, url, key, stop.wait)
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
    except ClientError as error:
        print(f"monkeytown simulate: error: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        if transport is not None:
            transport.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
