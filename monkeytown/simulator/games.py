"""Whole games as players play them: one session's script of game_start, moves and game_end (pure, seeded),
grouped into sends, and the agent runs CI posts now and then."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

THINK_SECONDS = (0.5, 4.0)  # between two moves, at human pace
BETWEEN_GAMES_SECONDS = (2.0, 8.0)
ABANDON_SHARE = 0.1
BATCH_SHARE = 0.02  # sends that flush a queue of 2-20 events at once, like a client back online
SKEWED_SESSION_SHARE = 0.04
AGENT_RUN_SHARE = 0.05  # CI posts about one agent run per 20 games started
AGENTS = ("FounderAI", "AlphaOrchestrator", "BetaBuilder", "QualityGuardian")
AGENT_RUN_SECONDS = (30.0, 1800.0)


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


def _scores(rng: random.Random, session_id: str, winner: str | None) -> dict[str, int]:
    """The points of the session and the ai it played: the winner's more, a draw's equal."""
    low = rng.randint(0, 5)
    high = low if winner is None else low + rng.randint(1, 5)
    return {session_id: high if winner == session_id else low, "ai": high if winner == "ai" else low}


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
                          "winner": winner, "scores": _scores(rng, session.session_id, winner)})
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


def iso_time(moment: float, timespec: str = "seconds") -> str:
    """Epoch seconds as RFC 3339 in UTC with a Z."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


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
        "started_at": iso_time(finished - duration, "milliseconds"),
        "finished_at": iso_time(finished, "milliseconds"),
        "duration_seconds": round(duration, 3),
    }
