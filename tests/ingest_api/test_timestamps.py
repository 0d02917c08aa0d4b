from datetime import UTC, datetime, timedelta

import pytest

from ingest_api.timestamps import corrected_time, parse_event_time, window_violation

UTC = UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-18T12:00:00Z", datetime(2026, 1, 18, 12, 0, tzinfo=UTC)),
        ("2026-01-18T14:30:00+02:30", datetime(2026, 1, 18, 12, 0, tzinfo=UTC)),
        ("2026-01-18T07:00:00.250-05:00", datetime(2026, 1, 18, 12, 0, 0, 250000, tzinfo=UTC)),
        ("2026-01-18t12:00:00.123456789z", datetime(2026, 1, 18, 12, 0, 0, 123456, tzinfo=UTC)),
        (1768737600000, datetime(2026, 1, 18, 12, 0, tzinfo=UTC)),
        (1768737600000.0, datetime(2026, 1, 18, 12, 0, tzinfo=UTC)),  # an integer to JSON Schema
    ],
)
def test_rfc3339_with_any_offset_and_epoch_millis_become_utc(text, expected):
    parsed = parse_event_time(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "bad",
    ["2026-01-18", "2026-01-18T12:00:00", "2026-02-30T00:00:00Z", "yesterday", "2026-01-18T12:00:00+25:00", True, 1.5,
     None],
)
def test_times_that_are_not_rfc3339_or_epoch_millis_are_refused(bad):
    with pytest.raises(ValueError):
        parse_event_time(bad)


def test_skew_correction_shifts_the_client_time_by_the_client_clock_offset():
    received = datetime(2026, 1, 18, 12, 0, 5, tzinfo=UTC)
    # the client's clock runs 3 hours behind: it stamped the event 2 s before sending
    client_time = datetime(2026, 1, 18, 9, 0, 1, tzinfo=UTC)
    sent_at = datetime(2026, 1, 18, 9, 0, 3, tzinfo=UTC)
    assert corrected_time(client_time, sent_at, received) == datetime(2026, 1, 18, 12, 0, 3, tzinfo=UTC)
    assert corrected_time(client_time, None, received) == client_time
    assert corrected_time(None, sent_at, received) == received


def test_a_correction_past_the_calendar_is_outside_the_window_not_an_error():
    received = datetime(2026, 1, 18, 12, 0, tzinfo=UTC)
    late = corrected_time(parse_event_time(251606370896940), parse_event_time(5), received)  # year 9943, 1970
    early = corrected_time(parse_event_time(5), parse_event_time(251606370896940), received)
    assert (window_violation(late, received), window_violation(early, received)) == ("future", "stale")


def test_the_accepted_window_is_24_hours_back_and_1_hour_ahead():
    now = datetime(2026, 1, 18, 12, 0, tzinfo=UTC)
    assert window_violation(now - timedelta(hours=24), now) is None
    assert window_violation(now - timedelta(hours=24, seconds=1), now) == "stale"
    assert window_violation(now + timedelta(hours=1), now) is None
    assert window_violation(now + timedelta(hours=1, seconds=1), now) == "future"
