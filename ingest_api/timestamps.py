"""Event times: parsing RFC 3339 / epoch milliseconds, and clock-skew correction."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from ingest_api.contracts.rules import MAX_EVENT_AGE, MAX_FUTURE_SKEW, RefusalReason

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_event_time(value: str | int) -> datetime:
    """An RFC 3339 string with any offset, or integer epoch milliseconds, as an aware UTC datetime.

    Raises ValueError for anything else (including impossible dates such as February 30).
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, float) and value.is_integer():  # JSON Schema counts 5.0 as an integer, so must we
        value = int(value)
    if isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not RFC 3339 nor integer epoch milliseconds")
    match = _RFC3339.match(value)
    if not match:
        raise ValueError(f"{value!r} is not RFC 3339 (e.g. 2026-01-18T12:00:00Z) nor epoch milliseconds")
    try:  # the C parser takes the common shapes; the rest (t/z, nanoseconds, leap seconds) is done below
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        pass
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micros = int((fraction or ".0")[1:7].ljust(6, "0"))
    if offset in ("Z", "z"):
        tz = UTC
    else:
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError(f"{value!r} has an impossible UTC offset")
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    # leap second 60 is folded into 59.999999, as most databases do
    sec = int(second)
    if sec == 60:
        sec, micros = 59, 999999
    local = datetime(int(year), int(month), int(day), int(hour), int(minute), sec, micros, tzinfo=tz)
    return local.astimezone(UTC)


def corrected_time(client_time: datetime | None, sent_at: datetime | None, received_at: datetime) -> datetime:
    """When the event happened on the server's clock.

    With `sent_at`, the client's clock offset (received_at - sent_at, network delay included) is
    applied to its timestamp, as Segment and Snowplow do; without a timestamp, the receipt time.
    """
    if client_time is None:
        return received_at
    if sent_at is None:
        return client_time
    offset = received_at - sent_at
    try:
        return client_time + offset
    except OverflowError:  # a clock off by millennia lands past the calendar's end: outside any window
        return datetime.max.replace(tzinfo=UTC) if offset > timedelta(0) else datetime.min.replace(tzinfo=UTC)


def window_violation(occurred_at: datetime, received_at: datetime) -> RefusalReason | None:
    """STALE or FUTURE when the event is outside the accepted window, else None."""
    if occurred_at < received_at - MAX_EVENT_AGE:
        return RefusalReason.STALE
    if occurred_at > received_at + MAX_FUTURE_SKEW:
        return RefusalReason.FUTURE
    return None
