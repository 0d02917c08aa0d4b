"""The retention policy in one place: how many days each family of raw.events stays in PostgreSQL before it is
archived and dropped (game events 90, system events 30, agent runs never), which family days are expired, when
an inactive player is anonymized (90 days) and deleted (365), and how long the platform keeps its own history
(GX results, Dagster runs and ticks, log files: 30 days). Aggregates (rollups, daily and hourly marts) and agent
runs are kept forever."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from typing import TYPE_CHECKING, NamedTuple

import psycopg

if TYPE_CHECKING:
    from monkeytown.settings import Settings

_FAMILY_DAYS_SQL = resources.files(__package__).joinpath("sql/family_days.sql").read_text("utf-8")

GAME_EVENTS = "client"
SYSTEM_EVENTS = "server"
AGENT_RUNS = "ci"


@dataclass(frozen=True)
class RetentionPolicy:
    """Days each family is kept in PostgreSQL; a family not named here (agent runs, the default family of
    unknown sources) is kept forever."""

    game_events_days: int = 90  # MONKEYTOWN_RETAIN_GAME_EVENTS_DAYS
    system_events_days: int = 30  # MONKEYTOWN_RETAIN_SYSTEM_EVENTS_DAYS
    player_anonymize_days: int = 90  # MONKEYTOWN_PLAYER_ANONYMIZE_DAYS, without activity
    player_delete_days: int = 365  # MONKEYTOWN_PLAYER_DELETE_DAYS, without activity
    history_days: int = 30  # MONKEYTOWN_PRUNE_HISTORY_DAYS

    def __post_init__(self) -> None:
        for name in ("game_events_days", "system_events_days", "player_anonymize_days", "player_delete_days",
                     "history_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 day, not {getattr(self, name)}")
        if self.player_delete_days < self.player_anonymize_days:
            raise ValueError("player_delete_days must not be shorter than player_anonymize_days")

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(game_events_days=settings.retain_game_events_days,
                   system_events_days=settings.retain_system_events_days,
                   player_anonymize_days=settings.player_anonymize_days,
                   player_delete_days=settings.player_delete_days,
                   history_days=settings.prune_history_days)

    def days_to_keep(self) -> dict[str, int]:
        """The families retention drops, each with its days in PostgreSQL."""
        return {GAME_EVENTS: self.game_events_days, SYSTEM_EVENTS: self.system_events_days}

    def is_expired(self, family: str, day: date, as_of: date) -> bool:
        """Older than `as_of` minus the family's days; never for a family the policy keeps forever."""
        days = self.days_to_keep().get(family)
        return days is not None and day < as_of - timedelta(days=days)


class FamilyDay(NamedTuple):
    family: str
    day: date
    rows: int


def expired_family_days(conn: psycopg.Connection, as_of: date, policy: RetentionPolicy) -> list[FamilyDay]:
    """Every family day raw.events still holds that the policy says to archive and drop as of `as_of`, by day
    then family, with its rows counted now."""
    oldest_kept = min(policy.days_to_keep().values())
    candidates = conn.execute(_FAMILY_DAYS_SQL,
                              {"families": list(policy.days_to_keep()),
                               "before": as_of - timedelta(days=oldest_kept)}).fetchall()
    return [FamilyDay(family, day, rows) for family, day, rows in candidates
            if policy.is_expired(family, day, as_of)]
