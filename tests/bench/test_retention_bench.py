"""The retention benchmark at a tiny size against the test database: one round of its three ways, every figure
of the report there, and every step archived and dropped its day. Nothing here judges a timing (the machine is
shared); the benchmark does that."""

from __future__ import annotations

import math
import re
from datetime import date, timedelta

import pytest

from bench.retention import VARIANTS, RetentionPlan, Timeline, run
from bench.retention_report import markdown

#: About a hundred events a day over the 93 days one round spans: a few sessions on every day it archives.
TINY = RetentionPlan(events=9000, rounds=1, seed=7)


@pytest.fixture(scope="module")
def result(make_database):
    return run(TINY, database_url=make_database())


def steps(result: dict) -> list[dict]:
    return [step for r in result["raw"]["rounds"] for step in r["steps"]]


def test_the_steps_are_consecutive_days_each_expiring_the_next_game_event_day():
    timeline = Timeline(date(2026, 11, 30), 3)
    assert [timeline.as_of(j) for j in range(3)] == [date(2026, 11, 28), date(2026, 11, 29), date(2026, 11, 30)]
    assert [timeline.game_day(j) for j in range(3)] == [date(2026, 8, 29), date(2026, 8, 30), date(2026, 8, 31)]
    assert timeline.first_day == date(2026, 8, 29) and timeline.days == 93


def test_the_data_spans_the_policy_and_the_marts_are_built(result):
    data = result["data"]
    assert 6000 <= data["events"] <= 12000 and data["days"] == 93  # sessions arrive at random
    assert {"game_start", "move", "game_end", "agent_run"} <= set(data["events_by_type"])
    assert data["marts"]["moves"] > 0 and data["marts"]["players"] > 0
    assert date.fromisoformat(data["from"]) == date.fromisoformat(data["to"]) - timedelta(days=93)


def test_every_step_archived_and_dropped_its_day(result):
    done = steps(result)
    assert [s["variant"] for s in done] == list(VARIANTS)
    assert [s["step"] for s in done] == [1, 2, 3]
    for s in done:
        check = s["check"]
        assert s["postgres"]["rows"] > 0, s["game_day"]
        assert check["dropped"] and check["archive_verified"], s
        assert check["archive_rows"] == s["postgres"]["rows"] and check["rows_equal"]
        assert check["expired_left"] == []  # the system-event day and every older one went too
    assert result["summary"]["checks"] == {"passed": True, "steps": 3, "failed": []}


def test_the_daily_job_ran_through_dagster_and_anonymized_the_days_players(result):
    [dagster] = [s for s in steps(result) if s["variant"] == "dagster"]
    runs = dagster["timed"]["archive_runs"]
    # the daily schedule asks for the game-event day and the system-event day that passed their retention
    assert sorted(run["label"].rsplit("-archive-", 1)[1] for run in runs) == sorted(
        [dagster["game_day"], (date.fromisoformat(dagster["as_of"]) - timedelta(days=31)).isoformat()])
    assert all(run["wall_s"] > 0 and run["steps"] for run in runs)
    assert dagster["timed"]["privacy_run"]["steps"]
    # every player of a day is seen on that day only (a session each), so each step anonymizes some
    assert all(n > 0 for n in result["summary"]["players_anonymized"])


def test_the_summary_has_every_figure(result):
    s = result["summary"]
    values = [s["daily_job"]["wall_s"], s["daily_job"]["game_day_archive_run_s"], s["daily_job"]["privacy_run_s"],
              s["retention_run_s"], s["archive"]["rows_per_s"], s["sizes"]["parquet_bytes"],
              s["sizes"]["table_bytes"], s["sizes"]["total_bytes"], s["sizes"]["heap_bytes"]]
    assert all(math.isfinite(v) and v > 0 for v in values), values
    assert math.isfinite(s["overhead"]["difference_s"]) and s["overhead"]["ratio"] > 0
    assert s["sizes"]["total_bytes"] >= s["sizes"]["table_bytes"] >= s["sizes"]["heap_bytes"]


def test_the_markdown_report_says_what_was_measured(result):
    text = markdown(result)
    for heading in ("# Retention benchmark", "## The figures (1 rounds; medians)", "## Every step", "## How"):
        assert heading in text
    assert "**the daily job through Dagster**" in text and "**archive throughput**" in text
    assert "Check: every one of the 3 steps dropped its game-event day" in text
    assert not re.search(r"\bnan\b", text, re.IGNORECASE)
    assert f"{result['machine']['cores']} cores" in text
