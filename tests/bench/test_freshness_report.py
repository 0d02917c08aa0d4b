"""The freshness benchmark's pure figures: the nearest-rank percentile, which run picked a sample up and where its
time went (from run records as bench/freshness_dagster.py reads them from Dagster), the summary and the report."""

from __future__ import annotations

import math

import pytest

from bench.freshness_report import breakdown, markdown, nearest_rank, picking_run, summarize

T = 1_800_000_000.0  # an epoch second; every moment below is relative to it


def core_run(run_id: str, created: float, dequeued: float | None, started: float, ended: float | None,
             tick: float | None = None, games: float | None = None) -> dict:
    return {"run_id": run_id, "status": "SUCCESS" if ended else "STARTED", "tick_id": "7",
            "tick_at": None if tick is None else T + tick, "created_at": T + created,
            "dequeued_at": None if dequeued is None else T + dequeued, "started_at": T + started,
            "games_at": None if games is None else T + games, "ended_at": None if ended is None else T + ended}


def sample(posted: float, seen: float | None, number: int = 1) -> dict:
    return {"number": number, "posted_at": T + posted, "seen_at": None if seen is None else T + seen,
            "seconds": math.inf if seen is None else seen - posted, "load_1min": 1.5}


# --- nearest rank -------------------------------------------------------------------------------------------


def test_nearest_rank_of_twenty_samples_is_the_nineteenth_for_p95_and_the_tenth_for_the_median():
    values = list(range(20, 0, -1))  # 20..1, unsorted on purpose
    assert nearest_rank(values, 95) == 19
    assert nearest_rank(values, 50) == 10
    assert nearest_rank(values, 100) == 20


def test_nearest_rank_takes_a_value_that_was_measured_never_an_interpolation():
    assert nearest_rank([10.0, 30.0, 20.0], 95) == 30.0
    assert nearest_rank([10.0, 30.0, 20.0], 50) == 20.0
    assert nearest_rank([4.2], 95) == 4.2


def test_nearest_rank_of_nothing_is_nan_and_a_sample_that_never_arrived_stays_infinite():
    assert math.isnan(nearest_rank([], 95))
    assert nearest_rank([1.0, 2.0, math.inf], 95) == math.inf


# --- which run, and where the time went ---------------------------------------------------------------------


def test_the_event_waits_for_the_sensor_then_its_own_run():
    runs = [core_run("a", created=5, dequeued=5.5, started=8, ended=30, tick=4, games=15)]
    part = breakdown(sample(posted=0, seen=16), runs)
    assert part["run_id"] == "a"
    assert part["segments"] == {"sensor": 5.0, "queue": 0.5, "launch": 2.5, "run": 8.0}
    assert sum(part["segments"].values()) == pytest.approx(16)
    assert part["behind_run"] is None and part["in_progress_at_post"] is None
    assert part["games_after_start_s"] == 7.0 and part["run_took_s"] == 22.0
    assert part["tick_at"] == T + 4
    assert part["cause"] == "run"


def test_an_event_that_lands_just_after_a_run_started_waits_behind_it():
    runs = [core_run("busy", created=-10, dequeued=-9, started=-8, ended=20),
            core_run("next", created=3, dequeued=20.5, started=23, ended=45)]
    part = breakdown(sample(posted=0, seen=33), runs)
    assert part["run_id"] == "next"
    assert part["in_progress_at_post"] == "busy"
    assert part["behind_run"] == "busy"
    assert part["segments"] == {"sensor": 3.0, "queue": 17.5, "launch": 2.5, "run": 10.0}
    assert part["behind_run_s"] == 17.0  # from the request at 3 s to the end of the run ahead at 20 s
    assert part["cause"] == "queue_behind"


def test_a_queue_that_outlasts_the_run_ahead_names_the_other_jobs_holding_the_slots():
    runs = [core_run("busy", created=-10, dequeued=-9, started=-8, ended=4),
            core_run("next", created=2, dequeued=30, started=40, ended=70)]
    others = [{"run_id": "r", "job": "refresh_rollups", "started_at": T + 3, "ended_at": T + 29},
              {"run_id": "v", "job": "refresh_dashboard_views", "started_at": T + 5, "ended_at": T + 30},
              {"run_id": "d", "job": "build_dbt_docs", "started_at": T + 31, "ended_at": T + 50},
              {"run_id": "m", "job": "measure_pipeline_health", "dequeued_at": T + 25, "started_at": T + 45,
               "ended_at": T + 47}]  # launched (in a slot) while ours waited, executing only after
    part = breakdown(sample(posted=0, seen=55), runs, others)
    assert part["segments"] == {"sensor": 2.0, "queue": 28.0, "launch": 10.0, "run": 15.0}
    assert part["behind_run"] == "busy" and part["behind_run_s"] == 2.0
    assert part["other_jobs_while_queued"] == ["measure_pipeline_health", "refresh_dashboard_views",
                                               "refresh_rollups"]
    assert part["cause"] == "queue"  # mostly not behind the core-models run: the slots were taken


def test_a_run_already_waiting_in_the_queue_takes_the_event_in_without_the_sensor():
    runs = [core_run("busy", created=-20, dequeued=-19, started=-18, ended=6),
            core_run("queued", created=-2, dequeued=6.2, started=9, ended=30)]
    part = breakdown(sample(posted=0, seen=19), runs)
    assert part["run_id"] == "queued"
    assert part["requested_before_post"] is True
    assert part["segments"]["sensor"] == 0.0
    assert part["segments"]["queue"] == pytest.approx(6.2)
    assert part["behind_run"] == "busy"
    assert sum(part["segments"].values()) == pytest.approx(19)


def test_a_run_that_started_just_before_the_post_can_still_read_the_event():
    runs = [core_run("a", created=-3, dequeued=-2.5, started=-1, ended=20)]
    part = breakdown(sample(posted=0, seen=9), runs)
    assert part["run_id"] == "a"
    assert part["segments"] == {"sensor": 0.0, "queue": 0.0, "launch": 0.0, "run": 9.0}


def test_the_run_that_picked_it_up_is_the_last_to_start_before_the_game_was_seen():
    runs = [core_run("before", created=-30, dequeued=-29, started=-28, ended=-1),  # over before the post
            core_run("during", created=-5, dequeued=-4, started=-3, ended=12),
            core_run("picked", created=2, dequeued=12.1, started=13, ended=40),
            core_run("after", created=20, dequeued=40.1, started=41, ended=60)]
    assert picking_run(runs, T + 0, T + 25)["run_id"] == "picked"
    assert picking_run(runs, T + 0, T + 10)["run_id"] == "during"
    assert picking_run(runs[:1], T + 0, T + 10) is None


def test_without_a_dequeue_record_the_queue_and_the_launch_are_one_stretch():
    runs = [core_run("a", created=4, dequeued=None, started=9, ended=30)]
    part = breakdown(sample(posted=0, seen=14), runs)
    assert part["segments"] == {"sensor": 4.0, "queue": 5.0, "launch": None, "run": 5.0}


def test_a_sample_never_seen_has_no_breakdown_and_one_without_a_run_says_so():
    assert breakdown(sample(posted=0, seen=None), []) is None
    assert breakdown(sample(posted=0, seen=5), [])["run_id"] is None


# --- the summary and the report ---------------------------------------------------------------------------------


def test_the_warm_up_is_left_out_of_the_percentiles():
    runs = [core_run("a", created=1, dequeued=1.2, started=3, ended=30)]
    timed = [sample(0, s, number=i + 1) for i, s in enumerate([10, 12, 14, 16, 18, 20, 22, 24, 26, 28,
                                                               11, 13, 15, 17, 19, 21, 23, 25, 27, 29])]
    for s in timed:
        s["breakdown"] = breakdown(s, runs)
    warm_up = sample(0, 95, number=0)
    summary = summarize(timed, warm_up)
    assert summary["samples"] == 20
    assert summary["p95_s"] == 28 and summary["p50_s"] == 19 and summary["max_s"] == 29
    assert summary["goal_met"] is True
    assert summary["warm_up_s"] == 95
    assert summary["segment_medians_s"]["sensor"] == 1.0


def test_the_goal_is_missed_when_p95_is_over_thirty_seconds_or_a_sample_never_arrived():
    assert summarize([sample(0, 10), sample(0, 31)], None)["goal_met"] is False
    never = summarize([sample(0, 10), sample(0, None)], None)
    assert never["goal_met"] is False and never["never_arrived"] == 1


def test_the_report_reads_the_goal_line_the_figures_and_each_samples_breakdown():
    runs = [core_run("busy0000", created=-10, dequeued=-9, started=-8, ended=20),
            core_run("next0000", created=3, dequeued=20.5, started=23, ended=45, tick=2.5, games=31)]
    timed = [sample(0, 33)]
    timed[0]["breakdown"] = breakdown(timed[0], runs)
    warm_up = sample(-200, -100, number=0)
    warm_up["breakdown"] = None
    result = {
        "started_at": "2026-11-30T15:20:00+00:00", "simulate": True,
        "plan": {"samples": 1, "max_wait_s": 20.0, "poll_s": 0.25, "limit_s": 300.0},
        "machine": {"cpu": "Some CPU", "cores": 2, "memory_gib": 7.8, "kernel": "6.1", "python": "3.11.9",
                    "postgresql": "18.0 (embedded)", "load_average_at_start": [1.0, 2.0, 3.0],
                    "load_average_at_end": [1.5, 2.0, 3.0]},
        "code": {"commit": "abc1234", "uncommitted": ["orchestration/dbt/assets.py"]},
        "traffic": {"events": 120, "seconds": 60.0, "events_per_s": 2.0, "own_events": 1},
        "dagster": {"core_runs": 2, "core_statuses": {"SUCCESS": 2}, "other_jobs": {}},
        "warm_up": warm_up, "samples": timed, "summary": summarize(timed, warm_up),
    }
    text = markdown(result)
    assert "**p95 <= 30 s: MISSED**" in text
    assert "p50 33.0 s, p95 33.0 s, max 33.0 s over 1 events" in text
    assert "the warm-up event is not among them" in text
    assert "it took 100.0 s" in text
    assert "Some CPU, 2 cores" in text and "commit abc1234, with uncommitted changes in orchestration" in text
    assert "1.00, 2.00, 3.00 before the platform started" in text
    assert "queue 17.5 s (17.0 s of it behind busy0000)" in text and "waited behind a run in progress" in text
    assert "`monkeytown up --simulate`" in text
