"""The door rules, one parsed event at a time (no database involved)."""

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from ingest_api.contracts import AGENT_RUNS_ENDPOINT
from ingest_api.door import MAX_EVENT_BYTES, LandingRow, Rejection, admit
from tests.ingest_api.factories import agent_run, game_end, game_start, move

NOW = datetime(2026, 1, 18, 12, 0, tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (game_start(game_id=None), "game_id"),
        (game_start(game_type=None), "game_type"),
        (game_start(session_id=None), "session_id"),
        (move(move_type=None), "move_type"),
        (game_end(duration=None), "duration"),
        (game_end(event_id=None), "event_id"),
        (game_end(type=None), "type"),
    ],
)
def test_a_missing_required_field_is_rejected_naming_the_field(event, field):
    event = {k: v for k, v in event.items() if v is not None or k != field}
    verdict = admit(event, NOW)
    assert isinstance(verdict, Rejection)
    assert (verdict.reason, verdict.field) == ("missing_field", field)
    assert field in verdict.message


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (game_start(type="game_over"), "type"),
        (game_end(duration="long"), "duration"),
        (game_end(duration=-1), "duration"),
        (move(data=[1, 2]), "data"),
        (move(game_id=7), "game_id"),
        (game_start(event_id="has spaces"), "event_id"),
        (game_start(event_id="x" * 65), "event_id"),
        (game_start(timestamp="last tuesday"), "timestamp"),
        (game_start(timestamp=1.5), "timestamp"),
        (game_start(session_id=12345), "session_id"),
        (game_start(colour="red"), "colour"),
    ],
)
def test_wrong_types_and_unknown_fields_are_a_schema_mismatch_naming_the_field(event, field):
    verdict = admit(event, NOW)
    assert isinstance(verdict, Rejection)
    assert (verdict.reason, verdict.field) == ("schema_mismatch", field)


def test_an_event_that_is_not_an_object_is_a_schema_mismatch():
    verdict = admit(["not", "an", "object"], NOW)
    assert isinstance(verdict, Rejection) and verdict.reason == "schema_mismatch"


def test_clients_cannot_send_server_events():
    verdict = admit({"event_id": "s1", "type": "server_start", "event_data": {"version": "9"}}, NOW)
    assert isinstance(verdict, Rejection)
    assert (verdict.reason, verdict.field) == ("schema_mismatch", "type")


def test_each_contract_is_admitted_only_at_its_own_endpoint():
    server = {"event_id": "s2", "type": "server_start", "event_data": {"version": "9"}}
    assert isinstance(admit(server, NOW, endpoint=None), LandingRow)
    assert admit({"event_id": "a1", "type": "agent_run", **agent_run()}, NOW).field == "type"
    assert admit(game_start(), NOW, endpoint=AGENT_RUNS_ENDPOINT).field == "run_id"
    assert admit(server, NOW, endpoint=AGENT_RUNS_ENDPOINT).reason == "missing_field"
    assert isinstance(admit(agent_run(), NOW, endpoint=AGENT_RUNS_ENDPOINT), LandingRow)


@pytest.mark.parametrize(("run_id", "key"), [("r-1.2_x", "r-1.2_x"), (0, "0"), (4711, "4711"), (7.0, "7")])
def test_an_agent_runs_event_id_derives_from_its_run_id_as_text(run_id, key):
    verdict = admit(agent_run(run_id=run_id), NOW, endpoint=AGENT_RUNS_ENDPOINT)
    assert isinstance(verdict, LandingRow)
    assert (verdict.event_id, verdict.type, verdict.source) == (f"agent_run:{key}", "agent_run", "ci")
    assert verdict.identity == {"run_id": key, "event_id": f"agent_run:{key}"}
    assert orjson.loads(verdict.payload)["run_id"] == key


def test_an_agent_run_occurred_when_it_finished_corrected_for_skew():
    ci_clock = NOW - timedelta(hours=30)  # hours off: stale without sent_at
    run = agent_run(started_at=rfc3339(ci_clock - timedelta(minutes=5)), finished_at=rfc3339(ci_clock))
    assert admit(run, NOW, endpoint=AGENT_RUNS_ENDPOINT).reason == "stale"
    verdict = admit({**run, "sent_at": rfc3339(ci_clock)}, NOW, endpoint=AGENT_RUNS_ENDPOINT)
    assert (verdict.occurred_at, verdict.client_timestamp, verdict.sent_at) == (NOW, ci_clock, ci_clock)


@pytest.mark.parametrize("session", ["", "   ", "bad session!", "x" * 65, None])
def test_a_malformed_or_empty_session_is_accepted_as_a_new_anonymous_player(session):
    event = game_start(session_id=session)
    verdict = admit(event, NOW)
    assert isinstance(verdict, LandingRow)
    assert verdict.is_anonymous and verdict.session_id is None
    assert verdict.player_id == f"anon-{event['event_id']}"
    assert verdict.warnings == ["anonymous_player"]


def test_a_well_formed_session_is_the_player():
    verdict = admit(game_start(session_id="s_42"), NOW)
    assert (verdict.session_id, verdict.player_id, verdict.is_anonymous) == ("s_42", "s_42", False)
    assert verdict.warnings == []


def test_a_move_without_a_session_is_not_an_anonymous_player():
    verdict = admit(move(), NOW)
    assert (verdict.player_id, verdict.is_anonymous) == (None, False)


def test_stale_events_are_rejected_with_a_warning_and_future_ones_rejected():
    stale = admit(game_start(timestamp=rfc3339(NOW - timedelta(hours=25))), NOW)
    assert (stale.reason, stale.warnings) == ("stale", ["stale"])
    future = admit(game_start(timestamp=rfc3339(NOW + timedelta(hours=2))), NOW)
    assert future.reason == "future"
    at_edge = admit(game_start(timestamp=rfc3339(NOW - timedelta(hours=23, minutes=59))), NOW)
    assert isinstance(at_edge, LandingRow)


def test_a_client_clock_hours_off_is_corrected_with_sent_at_and_all_three_times_kept():
    client_clock = NOW - timedelta(hours=5)  # the device thinks it is 07:00
    event = game_start(timestamp=rfc3339(client_clock - timedelta(seconds=30)), sent_at=rfc3339(client_clock))
    verdict = admit(event, NOW)
    assert isinstance(verdict, LandingRow)
    assert verdict.occurred_at == NOW - timedelta(seconds=30)
    assert verdict.client_timestamp == client_clock - timedelta(seconds=30)
    assert verdict.sent_at == client_clock
    assert verdict.received_at == NOW


def test_future_is_judged_after_skew_correction():
    client_clock = NOW + timedelta(hours=3)  # the device runs 3 h fast
    verdict = admit(game_start(timestamp=rfc3339(client_clock), sent_at=rfc3339(client_clock)), NOW)
    assert isinstance(verdict, LandingRow) and verdict.occurred_at == NOW


def test_no_timestamp_means_the_time_received():
    assert admit(move(), NOW).occurred_at == NOW


def test_server_owned_fields_sent_by_a_client_are_ignored():
    event = move(received_at="1999-01-01T00:00:00Z", player_id="admin", is_anonymous=True)
    verdict = admit(event, NOW)
    assert isinstance(verdict, LandingRow)
    assert verdict.received_at == NOW and verdict.player_id is None and not verdict.is_anonymous
    assert verdict.ignored_fields == ["is_anonymous", "player_id", "received_at"]
    assert "received_at" not in orjson.loads(verdict.payload)


def test_an_event_over_32_kib_is_too_large_and_one_under_is_fine():
    base = move(data={"pad": ""})
    overhead = len(orjson.dumps(base))
    fits = move(event_id=base["event_id"], data={"pad": "x" * (MAX_EVENT_BYTES - overhead)})
    assert len(orjson.dumps(fits)) == MAX_EVENT_BYTES
    assert isinstance(admit(fits, NOW), LandingRow)
    over = move(event_id=base["event_id"], data={"pad": "x" * (MAX_EVENT_BYTES - overhead + 1)})
    assert admit(over, NOW).reason == "too_large"


def test_nul_characters_are_refused_not_stored():
    verdict = admit(move(data={"note": "a\x00b"}), NOW)
    assert isinstance(verdict, Rejection)
    assert (verdict.reason, verdict.field) == ("schema_mismatch", "data")
    assert "\\u0000" in verdict.payload  # the errors table keeps it, escaped


def test_a_retry_with_a_new_sent_at_is_the_same_event():
    event = move()
    first = admit({**event, "sent_at": rfc3339(NOW)}, NOW)
    retry = admit({**event, "sent_at": rfc3339(NOW + timedelta(seconds=9))}, NOW + timedelta(seconds=10))
    changed = admit({**event, "move_type": "capture"}, NOW)
    assert first.payload_hash == retry.payload_hash
    assert first.payload_hash != changed.payload_hash


@pytest.mark.parametrize("scores", [{"s-1": 3, "ai": 1}, {"s-1": 3.0, "ai": -2.5}, {"s-1": 1e1}, {"ai": 0}, {}])
def test_game_end_takes_scores_any_json_number_per_participant_stored_as_sent(scores):
    verdict = admit(game_end(scores=scores), NOW)
    assert isinstance(verdict, LandingRow) and verdict.contract_version == 2
    # numbers stay as sent (3.0, 1e1): the marts read them as numeric, which takes every spelling
    assert orjson.loads(verdict.payload)["scores"] == scores


@pytest.mark.parametrize(
    ("scores", "field"),
    [
        ([3, 1], "scores"),
        ("s-1:3", "scores"),
        ({"s-1": "3"}, "scores.s-1"),
        ({"s-1": None}, "scores.s-1"),
        ({"s-1": True}, "scores.s-1"),
        ({"s-1": {"points": 3}}, "scores.s-1"),
        ({"s-1": 1e16}, "scores.s-1"),
        ({"": 3}, "scores"),
        ({"x" * 129: 3}, "scores"),
        ({f"p{i}": i for i in range(65)}, "scores"),
    ],
)
def test_scores_that_are_not_an_object_of_bounded_numbers_are_a_schema_mismatch(scores, field):
    verdict = admit(game_end(scores=scores), NOW)
    assert isinstance(verdict, Rejection)
    assert (verdict.reason, verdict.field) == ("schema_mismatch", field)
