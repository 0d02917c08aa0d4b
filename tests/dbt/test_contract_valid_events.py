"""Events generated from the contracts themselves (hypothesis-jsonschema), in every JSON spelling the contracts
allow, are landed through the API and built by dbt: the whole build passes, and every accepted event reaches its
mart. The door may refuse only with a reason of its own (e.g. a NUL character, which PostgreSQL cannot store)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta, timezone

import psycopg
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from ingest_api.app import create_app
from ingest_api.contracts import (
    AGENT_RUNS_ENDPOINT,
    DOOR_REASONS,
    EVENTS_ENDPOINT,
    MAX_EVENT_AGE,
    contracts,
)
from tests.dbt.test_staging import monkeytown_dbt

KEY = "contract-valid-events-key"
#: Generated below instead of from the schema: ids unique per run, times inside the door's window.
OWN_FIELDS = ("event_id", "timestamp", "sent_at", "started_at", "finished_at")
ENDPOINTS = {"game_start": EVENTS_ENDPOINT, "move": EVENTS_ENDPOINT, "game_end": EVENTS_ENDPOINT,
             "agent_run": AGENT_RUNS_ENDPOINT}
_serial = itertools.count()


def _schema_without_own_fields(event_type: str) -> dict:
    schema = contracts()[event_type].schema
    return {
        **{k: v for k, v in schema.items() if not k.startswith(("$", "x-"))},
        "properties": {k: v for k, v in schema["properties"].items() if k not in OWN_FIELDS},
        "required": [name for name in schema["required"] if name not in OWN_FIELDS],
    }


@st.composite
def event_time(draw, moment: datetime) -> str | int | float:
    """`moment` as RFC 3339 with any offset, precision and case, or as epoch milliseconds (maybe as 1.7e12)."""
    if draw(st.booleans()):
        millis = round(moment.timestamp() * 1000)
        return float(millis) if draw(st.booleans()) else millis
    offset = timedelta(minutes=draw(st.integers(-14 * 60, 14 * 60)))
    local = moment.astimezone(timezone(offset))
    digits = draw(st.sampled_from([0, 3, 6, 9]))
    fraction = f".{local.microsecond:06d}{'0' * 3}"[: digits + 1] if digits else ""
    numeric = local.strftime("%z")
    zone = draw(st.sampled_from(["Z", "z", "+00:00"])) if not offset else f"{numeric[:3]}:{numeric[3:]}"
    separator = draw(st.sampled_from(["T", "t", " "]))
    return f"{local:%Y-%m-%d}{separator}{local:%H:%M:%S}{fraction}{zone}"


@st.composite
def contract_valid_event(draw, now: datetime) -> tuple[str, dict]:
    event_type = draw(st.sampled_from(sorted(ENDPOINTS)))
    event = draw(from_schema(_schema_without_own_fields(event_type)))
    window = int((MAX_EVENT_AGE - timedelta(minutes=30)).total_seconds())  # inside the door's window, with room
    happened = now - timedelta(seconds=draw(st.integers(0, window)))
    skew = timedelta(hours=draw(st.integers(-9, 9)))  # a device clock hours off, corrected with sent_at
    times = {"timestamp": event_time(happened + skew)} if event_type != "agent_run" else {
        "finished_at": event_time(happened + skew), "started_at": event_time(happened - timedelta(minutes=5))}
    event.update({name: draw(strategy) for name, strategy in times.items()})
    event["sent_at"] = draw(event_time(now + skew))
    unique = next(_serial)
    if event_type == "agent_run":  # the schema's own run_id, made unique: a string suffixed, an integer offset
        run_id = event["run_id"]
        event["run_id"] = f"{run_id[:40]}.{unique}" if isinstance(run_id, str) else run_id // 1000 * 1000 + unique
    else:
        event["event_id"] = f"{draw(st.from_regex(r'[A-Za-z0-9_-]{1,40}', fullmatch=True))}-{unique}"
    if draw(st.booleans()):  # integers spelled as JSON Schema also counts them: 3.0
        event = {k: float(v) if type(v) is int and abs(v) < 2**53 else v for k, v in event.items()}
    return event_type, event


def _post(client, endpoint: str, event: dict) -> dict:
    # the standard library spells integers of any size (the schema's free-form data holds some), orjson stops at 64 bits
    response = client.post(endpoint, data=json.dumps(event, allow_nan=False, ensure_ascii=False).encode(),
                           headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    assert response.status_code in (200, 422), response.get_data(as_text=True)
    return response.get_json()


def _reached_its_mart(conn: psycopg.Connection, event_type: str, answer: dict, event: dict) -> bool:
    if event_type == "agent_run":
        query, key = "SELECT 1 FROM marts.agent_runs WHERE run_id = %s", answer["run_id"]
    elif event_type == "move":
        query, key = "SELECT 1 FROM marts.moves WHERE event_id = %s", answer["event_id"]
    else:
        query, key = "SELECT 1 FROM marts.games WHERE game_id = %s", event["game_id"]
    return conn.execute(query, (key,)).fetchone() is not None


# no shrinking: each example costs a dbt build, and the first failure already names the events at fault
@settings(max_examples=2, derandomize=True, deadline=None, database=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_contract_valid_events_of_every_shape_flow_to_the_marts(make_database, data):
    now = datetime.now(UTC)
    events = data.draw(st.lists(contract_valid_event(now), min_size=60, max_size=60), label="events")
    url = make_database()
    app = create_app({"TESTING": True, "DATABASE_URL": url, "WRITE_KEYS": {"tests": KEY}})
    try:
        client = app.test_client()
        answers = [(event_type, event, _post(client, ENDPOINTS[event_type], event)) for event_type, event in events]
    finally:
        app.extensions["monkeytown.ingest"].pool.close()
    refused = [answer for _, _, answer in answers if answer["status"] == "rejected"]
    assert {answer["reason"] for answer in refused} <= set(DOOR_REASONS)
    assert len(refused) <= len(answers) // 4, refused[:5]  # the generated events are meant to be accepted

    result = monkeytown_dbt(url, "build")
    assert result.returncode == 0, result.stdout[-4000:]
    with psycopg.connect(url) as conn:
        missing = [event for event_type, event, answer in answers if answer["status"] == "accepted"
                   and not _reached_its_mart(conn, event_type, answer, event)]
    assert missing == []
