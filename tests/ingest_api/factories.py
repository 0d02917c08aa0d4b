"""Valid events to start tests from; each call makes a new event_id."""

from __future__ import annotations

import uuid


def new_id(prefix: str = "ev") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def game_start(**overrides) -> dict:
    event = {"event_id": new_id(), "type": "game_start", "game_id": "g-1", "game_type": "chess", "session_id": "s-1"}
    event.update(overrides)
    return event


def move(**overrides) -> dict:
    event = {"event_id": new_id(), "type": "move", "game_id": "g-1", "move_type": "place", "data": {"x": 1}}
    event.update(overrides)
    return event


def game_end(**overrides) -> dict:
    event = {"event_id": new_id(), "type": "game_end", "game_id": "g-1", "duration": 42.5, "winner": "s-1"}
    event.update(overrides)
    return event


def agent_run(**overrides) -> dict:
    run = {"run_id": new_id("run"), "agent_name": "FounderAI", "files_created": 3, "files_modified": 7,
           "status": "succeeded"}
    run.update(overrides)
    return run
