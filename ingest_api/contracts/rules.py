"""The door's facts that are not a field's schema: why an event is refused, and the window of time it is
accepted in. Declared here once; the door, replay, OpenAPI, the GX rules, the quarantine SQL, the simulator
and (through vars the code passes in, checked by a test) dbt all read them from here."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum


class RefusalReason(StrEnum):
    """raw.ingest_errors.reason, and the `reason` of a rejected event."""

    MISSING_FIELD = "missing_field"
    SCHEMA_MISMATCH = "schema_mismatch"
    STALE = "stale"
    FUTURE = "future"
    TOO_LARGE = "too_large"
    #: not a refusal of the event (the first copy stays stored), recorded when a copy differs
    DUPLICATE_CONFLICT = "duplicate_conflict"


class DoorWarning(StrEnum):
    """A `warnings` entry of an event's result: accepted with it (anonymous_player), or refused with it (stale)."""

    ANONYMOUS_PLAYER = "anonymous_player"
    STALE = "stale"


#: The reasons the door itself gives; a replay can take each of them through the door again.
DOOR_REASONS = tuple(reason for reason in RefusalReason if reason is not RefusalReason.DUPLICATE_CONFLICT)

#: An event that occurred longer ago than this before it was received (after clock-skew correction) is stale.
MAX_EVENT_AGE = timedelta(hours=24)
#: An event that occurred further ahead than this of its receipt (after clock-skew correction) is refused.
MAX_FUTURE_SKEW = timedelta(hours=1)
#: Incremental work starts this far before the newest arrival it saw, for commits that finished out of order.
ARRIVAL_OVERLAP = timedelta(minutes=10)
#: The hours a rollup rebuilds when nothing names its days: an accepted event can be MAX_EVENT_AGE old on arrival.
ROLLUP_LOOKBACK = MAX_EVENT_AGE + timedelta(hours=1)


def dbt_vars() -> dict[str, int]:
    """The same facts as the dbt project's vars (dbt_project.yml holds these values; a test compares them)."""
    return {
        "arrival_overlap_minutes": int(ARRIVAL_OVERLAP.total_seconds() // 60),
        "lookback_hours": int(ROLLUP_LOOKBACK.total_seconds() // 3600),
    }
