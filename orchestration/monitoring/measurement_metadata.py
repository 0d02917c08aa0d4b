"""A measurement as asset metadata, written by the asset that measures and read back by the check that judges."""

from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg

VALUE = "value"
MEASURED_AT = "measured_at"
UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Reading:
    value: float | None  # None: unavailable
    measured_at: datetime
    unavailable: str | None = None  # why not, then


def measured(value: float, measured_at: datetime, **details) -> dict:
    return {VALUE: float(value), MEASURED_AT: dg.MetadataValue.timestamp(measured_at), **details}


def unavailable(reason: str, measured_at: datetime, **details) -> dict:
    return {UNAVAILABLE: reason, MEASURED_AT: dg.MetadataValue.timestamp(measured_at), **details}


def reading_of(metadata: dict) -> Reading:
    """The reading in a materialization's metadata (values as Dagster stores them: MetadataValue objects)."""
    at = datetime.fromtimestamp(metadata[MEASURED_AT].value, UTC)
    if UNAVAILABLE in metadata:
        return Reading(None, at, metadata[UNAVAILABLE].value)
    return Reading(float(metadata[VALUE].value), at)
