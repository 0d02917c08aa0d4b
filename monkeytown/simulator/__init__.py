"""`monkeytown simulate`: realistic synthetic game traffic against a running ingest API, split by concern:
`games` scripts players' games (pure, seeded) and CI's agent runs, `faults` spoils a small share of events,
monkeytown.client sends them (HTTP or the WebSocket stream), `pacing` sets the speed, and `run` keeps sessions
playing and counts what the API answered. It depends on the event contracts only, never on the API's code."""

from monkeytown.simulator.faults import FAULT_SHARE, FAULTS, FaultInjector
from monkeytown.simulator.games import (
    AGENT_RUN_SHARE,
    AGENTS,
    GAMES,
    Ids,
    Session,
    iso_time,
    new_agent_run,
    new_session,
    plan_sends,
)
from monkeytown.simulator.pacing import Pace, StopFlag, pace_for
from monkeytown.simulator.run import Simulation, Summary, run_simulation

__all__ = [
    "AGENTS", "AGENT_RUN_SHARE", "FAULTS", "FAULT_SHARE", "GAMES", "FaultInjector", "Ids", "Pace",
    "Session", "Simulation", "StopFlag", "Summary", "iso_time",
    "new_agent_run", "new_session", "pace_for", "plan_sends", "run_simulation",
]
