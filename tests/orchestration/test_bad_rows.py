"""No poison pill (QUALITY.md row 25): a row written straight into raw.events that breaks a model in a way no
contract rule foresaw is quarantined with the database's error, everything else reaches the marts in the same
run, a rows_quarantined system event and the run itself say so, and the next run is clean; a failure that no
row causes quarantines nothing and fails the run as before."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import orjson
import psycopg

from ingest_api.contracts import AGENT_RUNS_ENDPOINT
from orchestration.definitions import defs
from orchestration.pipeline import quarantined
from tests.cli import monkeytown_env, run_monkeytown
from tests.dbt.test_marts import agent_runs, rows, script
from tests.dbt.test_staging import land_events

NOW = datetime.now(UTC).replace(microsecond=0)
#: Valid by the raw contract rules (a started_at is any JSON string to them), impossible as a timestamptz.
IMPOSSIBLE_DAY = "2026-02-30T10:00:00Z"


def insert_agent_run(url: str, run_id: str, started_at: str) -> None:
    """What a faulty loader writes straight into raw.events (and the id ledger), bypassing the door."""
    payload = {"run_id": run_id, "agent_name": "LoaderBot", "files_created": 1, "files_modified": 2,
               "status": "succeeded", "started_at": started_at}
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO raw.event_ids VALUES (%s, %s, %s, '\\x00')", (f"agent_run:{run_id}", NOW, NOW))
        conn.execute("INSERT INTO raw.events (event_id, type, contract_version, occurred_at, received_at, source,"
                     " payload) VALUES (%s, 'agent_run', 1, %s, %s, 'ci', %s)",
                     (f"agent_run:{run_id}", NOW, NOW, orjson.dumps(payload).decode()))


def run_core_models() -> dg.ExecuteInProcessResult:
    return defs().resolve_job_def("refresh_core_models").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    [failure] = [event for event in result.all_events if event.is_step_failure]
    return failure.event_specific_data.error.message


def test_rows_that_break_a_model_are_quarantined_and_everything_else_reaches_the_marts(pipeline_env):
    url, home = pipeline_env
    land_events(url, script())
    land_events(url, agent_runs(), endpoint=AGENT_RUNS_ENDPOINT)
    insert_agent_run(url, "bad-day", IMPOSSIBLE_DAY)
    insert_agent_run(url, "bad-text", "not a time")

    result = run_core_models()
    assert result.success, failure_message(result)
    assert len(result.get_asset_materialization_events()) == 18  # every asset of the job, agent_runs included
    assert quarantined(result) == ["2 rows that broke marts/agent_runs"]  # `monkeytown pipeline` prints it
    assert rows(url, "SELECT event_id, reason, source, detail FROM raw.ingest_errors ORDER BY event_id") == [
        ("agent_run:bad-day", "schema_mismatch", "pipeline", "quarantined after landing: broke model"
         f' marts.agent_runs: date/time field value out of range: "{IMPOSSIBLE_DAY}"'),
        ("agent_run:bad-text", "schema_mismatch", "pipeline", "quarantined after landing: broke model"
         ' marts.agent_runs: invalid input syntax for type timestamp with time zone: "not a time"'),
    ]
    assert rows(url, "SELECT count(*) FROM raw.events WHERE event_id LIKE 'agent_run:bad-%'") == [(0,)]
    assert rows(url, "SELECT count(*) FROM raw.event_ids WHERE event_id LIKE 'agent_run:bad-%'") == [(0,)]
    assert rows(url, "SELECT run_id FROM marts.agent_runs ORDER BY run_id") == [("2",), ("r1",), ("r3",)]
    assert rows(url, "SELECT count(*), sum(move_count) FROM marts.games") == [(4, 6)]
    [(announced,)] = rows(url, "SELECT event_data FROM marts.system_events WHERE event_type = 'rows_quarantined'")
    assert announced["model"] == "marts.agent_runs" and announced["rows"] == 2
    assert announced["run_id"] == result.run_id
    assert sorted(announced["event_ids"]) == ["agent_run:bad-day", "agent_run:bad-text"]
    assert announced["error"] in (f'date/time field value out of range: "{IMPOSSIBLE_DAY}"',
                                  'invalid input syntax for type timestamp with time zone: "not a time"')

    # the data engineer fixes the two payloads and replays them; the next run is clean and brings them in
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE raw.ingest_errors SET payload = jsonb_set(payload::jsonb, '{started_at}', %s)::text",
                     (orjson.dumps(NOW.isoformat()).decode(),))
    replay = run_monkeytown(monkeytown_env(home=home, database_url=url), "errors", "replay")
    assert replay.returncode == 0 and "schema_mismatch: 2 examined, 2 landed" in replay.stdout, replay.stdout
    again = run_core_models()
    assert again.success and quarantined(again) == []
    assert rows(url, "SELECT run_id FROM marts.agent_runs ORDER BY run_id") == [
        ("2",), ("bad-day",), ("bad-text",), ("r1",), ("r3",)]
    assert rows(url, "SELECT count(*) FROM marts.system_events WHERE event_type = 'rows_quarantined'") == [(1,)]


def test_a_failure_no_row_causes_quarantines_nothing_and_a_second_failure_stops_the_run(pipeline_env):
    url, _ = pipeline_env
    land_events(url, script())
    assert run_core_models().success
    with psycopg.connect(url) as conn:  # the table refuses every new agent run, whatever its values
        conn.execute("ALTER TABLE marts.agent_runs ADD CONSTRAINT refuses_all CHECK (files_created < 0) NOT VALID")
    land_events(url, agent_runs(), endpoint=AGENT_RUNS_ENDPOINT)

    refused = run_core_models()
    assert not refused.success
    message = failure_message(refused)
    assert 'agent_runs: new row for relation "agent_runs" violates check constraint "refuses_all"' in message
    assert "Nothing was quarantined" in message and "marts.agent_runs: none of" in message
    assert "rows breaks it alone" in message
    assert rows(url, "SELECT count(*) FROM raw.ingest_errors") == [(0,)]
    assert rows(url, "SELECT count(*) FROM raw.events WHERE type = 'agent_run'") == [(3,)]

    insert_agent_run(url, "bad-day", IMPOSSIBLE_DAY)
    again = run_core_models()
    assert not again.success
    assert "dbt build failed again after quarantining 1 row (see raw.ingest_errors)" in failure_message(again)
    assert rows(url, "SELECT event_id FROM raw.ingest_errors") == [("agent_run:bad-day",)]
    assert rows(url, "SELECT count(*) FROM raw.events WHERE type = 'agent_run'") == [(3,)]
    observed = [event.event_specific_data.asset_observation for event in again.all_events
                if event.event_type == dg.DagsterEventType.ASSET_OBSERVATION]
    [quarantine] = [o for o in observed if "quarantined_rows" in o.metadata]
    assert quarantine.asset_key.to_user_string() == "marts/agent_runs"
    assert quarantine.metadata["quarantined_event_ids"].value == ["agent_run:bad-day"]
