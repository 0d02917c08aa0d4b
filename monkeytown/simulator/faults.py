"""What buggy or unlucky clients send instead of a good event: one fault per spoiled event, each answered by
the door with the reason the contracts name."""

from __future__ import annotations

import random
from collections import Counter

from ingest_api.contracts import MAX_EVENT_AGE, MAX_FUTURE_SKEW, DoorWarning, RefusalReason, contracts
from monkeytown.simulator.games import iso_time

#: Under the monitoring's 1 % error-rate threshold: `make run` shows every refusal path without a standing breach.
FAULT_SHARE = 0.005


def _without(event: dict, *names: str) -> dict:
    return {k: v for k, v in event.items() if k not in names}


def _required_fields(event_type: str) -> list[str]:
    """What the contract requires beyond event_id and type, the fields a client can forget."""
    return [name for name in contracts()[event_type].schema["required"] if name not in ("event_id", "type")]


WRONG_TYPES = {"game_start": ("game_type", 7), "move": ("data", "e2e4"), "game_end": ("duration", "93.5")}


def _missing_field(rng: random.Random, event: dict, now: float) -> list[dict]:
    return [_without(event, rng.choice(_required_fields(event["type"])))]


def _schema_mismatch(rng: random.Random, event: dict, now: float) -> list[dict]:
    if rng.random() < 0.5:
        return [{**event, "type": rng.choice(["game_pause", "chat", "Move"])}]
    name, value = WRONG_TYPES[event["type"]]
    return [{**event, name: value}]


def _stale(rng: random.Random, event: dict, now: float) -> list[dict]:
    occurred = now - MAX_EVENT_AGE.total_seconds() - rng.uniform(1, 48) * 3600
    return [{**_without(event, "sent_at"), "timestamp": iso_time(occurred)}]


def _future(rng: random.Random, event: dict, now: float) -> list[dict]:
    occurred = now + MAX_FUTURE_SKEW.total_seconds() + rng.uniform(1, 11) * 3600
    return [{**_without(event, "sent_at"), "timestamp": iso_time(occurred)}]


def _duplicate(rng: random.Random, event: dict, now: float) -> list[dict]:
    return [event, event]


def _duplicate_conflict(rng: random.Random, event: dict, now: float) -> list[dict]:
    return [event, {**event, "data": {**event.get("data", {}), "edited": True}}]


def _anonymous_player(rng: random.Random, event: dict, now: float) -> list[dict]:
    return [{**event, "session_id": rng.choice(["", "guest player #7", "s" * 80])}]


#: Each fault by what the API answers: a refusal reason of the contracts, or a name of its own where the event is
#: accepted (a warning) or not refused at all (a plain duplicate).
FAULTS = {
    RefusalReason.MISSING_FIELD: _missing_field,
    RefusalReason.SCHEMA_MISMATCH: _schema_mismatch,
    RefusalReason.STALE: _stale,
    RefusalReason.FUTURE: _future,
    "duplicate": _duplicate,
    RefusalReason.DUPLICATE_CONFLICT: _duplicate_conflict,
    DoorWarning.ANONYMOUS_PLAYER: _anonymous_player,
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
        kinds = [k for k in FAULTS if k != DoorWarning.ANONYMOUS_PLAYER or "session_id" in event]
        kind = self.rng.choice(kinds)
        self.injected[kind] += 1
        return FAULTS[kind](self.rng, event, now)
