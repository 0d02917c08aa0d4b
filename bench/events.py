"""Realistic game traffic for the benchmarks (game_start, moves, game_end as the contracts define them),
pre-serialized so the load generator only sends bytes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import orjson

GAME_TYPES = ("chess", "tictactoe", "checkers", "go")
MOVE_TYPES = ("place", "capture", "promote", "pass")
MOVES_PER_GAME = 20
EVENTS_PER_GAME = MOVES_PER_GAME + 2


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event(i: int, tag: str, rng: random.Random, at: datetime, sent: str) -> dict:
    game, position = divmod(i, EVENTS_PER_GAME)
    game_id, session = f"{tag}-g{game}", f"s-{tag}-{game % 97}"
    event = {"event_id": f"{tag}-{i:08d}", "timestamp": _rfc3339(at), "sent_at": sent, "game_id": game_id}
    if position == 0:
        event.update(type="game_start", game_type=GAME_TYPES[game % len(GAME_TYPES)], session_id=session,
                     data={"client": "web", "version": "1.4.2", "opponent": "ai"})
    elif position == EVENTS_PER_GAME - 1:
        event.update(type="game_end", duration=round(rng.uniform(30, 900), 1),
                     winner=rng.choice((session, "ai", None)), data={"reason": "checkmate"})
    else:
        event.update(type="move", move_type=rng.choice(MOVE_TYPES), session_id=session,
                     data={"x": rng.randrange(8), "y": rng.randrange(8), "piece": "knight", "turn": position})
    return event


def game_events(count: int, tag: str) -> list[dict]:
    """`count` events of consecutive games, timestamped over the last few seconds, ids unique per `tag`."""
    rng = random.Random(tag)
    now = datetime.now(UTC)
    sent = _rfc3339(now)
    return [_event(i, tag, rng, now - timedelta(milliseconds=(count - i) % 5000), sent) for i in range(count)]


def copy_rows(events: list[dict]) -> list[tuple]:
    """The rows the API would land for these events, shaped for a COPY into raw.events."""
    received = datetime.now(UTC)
    rows = []
    for event in events:
        at = datetime.fromisoformat(event["timestamp"])
        session = event.get("session_id")
        rows.append((
            event["event_id"], event["type"], 1, at, at, datetime.fromisoformat(event["sent_at"]), received,
            session, session, False, event["game_id"], "client", orjson.dumps(event).decode(),
        ))
    return rows


def post_request(host: str, port: int, key: str, body: bytes) -> bytes:
    """One complete HTTP/1.1 keep-alive POST /api/events."""
    head = (
        f"POST /api/events HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def single_requests(count: int, tag: str, host: str, port: int, key: str) -> list[bytes]:
    return [post_request(host, port, key, orjson.dumps(e)) for e in game_events(count, tag)]


def batch_requests(events: list[dict], size: int, host: str, port: int, key: str) -> list[bytes]:
    chunks = (events[i:i + size] for i in range(0, len(events), size))
    return [post_request(host, port, key, orjson.dumps(chunk)) for chunk in chunks]
