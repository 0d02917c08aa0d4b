"""The arrivals sensor against a real database and a real (ephemeral) Dagster instance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from orchestration.ingest.sensors import decide, raw_events_arrivals
from orchestration.shared.warehouse import WarehouseResource
from tests.dbt.test_staging import land_events

T = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_decide_requests_a_run_for_new_arrivals_only():
    assert decide(None, None, run_waiting=False).skip_reason == "raw.events is empty"
    first = decide(None, T, run_waiting=False)
    assert (first.run_key, first.cursor) == (f"arrivals-up-to-{T.isoformat()}", T.isoformat())
    again = decide(first.cursor, T, run_waiting=False)
    assert again.run_key is None and again.cursor == T.isoformat()
    later = T + timedelta(seconds=1)
    assert decide(first.cursor, later, run_waiting=False).run_key == f"arrivals-up-to-{later.isoformat()}"


def test_decide_leaves_new_arrivals_to_a_run_waiting_to_start():
    waiting = decide(T.isoformat(), T + timedelta(seconds=5), run_waiting=True)
    assert waiting.run_key is None
    assert waiting.cursor == T.isoformat()  # unchanged: the next tick asks again


@pytest.fixture
def sensor_env(make_database):
    url = make_database()
    instance = dg.DagsterInstance.ephemeral()
    resources = {"warehouse": WarehouseResource(conninfo=url)}
    return url, instance, resources


def evaluate(instance, resources, cursor=None) -> dg.SensorResult:
    return raw_events_arrivals(dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources))


def test_the_sensor_requests_one_run_per_batch_of_arrivals(sensor_env):
    url, instance, resources = sensor_env
    assert evaluate(instance, resources).skip_reason.skip_message == "raw.events is empty"

    land_events(url, [{"event_id": "a1", "type": "game_start", "game_id": "g1", "game_type": "chess",
                       "session_id": "alice"}])
    first = evaluate(instance, resources)
    [request] = first.run_requests
    assert request.run_key.startswith("arrivals-up-to-")
    assert evaluate(instance, resources, cursor=first.cursor).run_requests == []

    land_events(url, [{"event_id": "a2", "type": "move", "game_id": "g1", "move_type": "move"}],
                received_at=datetime.now(UTC) + timedelta(seconds=1))
    [second] = evaluate(instance, resources, cursor=first.cursor).run_requests
    assert second.run_key != request.run_key


def test_a_run_that_started_gets_one_queued_behind_it_but_never_two(sensor_env):
    url, instance, resources = sensor_env
    land_events(url, [{"event_id": "a1", "type": "game_start", "game_id": "g1", "game_type": "chess",
                       "session_id": "alice"}])
    instance.add_run(dg.DagsterRun(job_name="refresh_core_models", status=dg.DagsterRunStatus.STARTED))
    behind = evaluate(instance, resources)
    assert len(behind.run_requests) == 1  # it may have read raw.events already: queue the next one

    instance.add_run(dg.DagsterRun(job_name="refresh_core_models", status=dg.DagsterRunStatus.NOT_STARTED))
    land_events(url, [{"event_id": "a2", "type": "move", "game_id": "g1", "move_type": "move"}],
                received_at=datetime.now(UTC) + timedelta(seconds=1))
    waiting = evaluate(instance, resources, cursor=behind.cursor)
    assert waiting.run_requests == []
    assert waiting.cursor == behind.cursor
    assert "waiting to start" in waiting.skip_reason.skip_message
