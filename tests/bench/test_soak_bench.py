"""The soak benchmark at a tiny size (24 s at 100 events/s, a sample every 3 s): it starts the API, offers every
event, and writes a report with every sample, a row per worker and its goals, each with the verdict its figures
give. Its verdict on made-up curves: growth, a worker gunicorn replaced, and the curve thinned for a long run.
Nothing here judges a timing (the machine is shared); the benchmark does that."""

from __future__ import annotations

import re

import orjson
import pytest

from bench import soak
from bench.soak_report import MAX_CURVE_ROWS, MAX_GROWTH_PCT_PER_HOUR, curve_rows, markdown, summarize
from ingest_api import gunicorn_conf

MINUTES, RATE, SAMPLE_SECONDS = 0.4, 100, 3
WINDOWS = 8


@pytest.fixture(scope="module")
def report(server_url, tmp_path_factory):
    out = tmp_path_factory.mktemp("soak")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MONKEYTOWN_DATABASE_URL", server_url)  # a scratch database on the session's server
        code = soak.main(["--minutes", str(MINUTES), "--rate", str(RATE), "--sample-seconds", str(SAMPLE_SECONDS),
                          "--out", str(out)])
    [json_path], [md_path] = out.glob("soak-*.json"), out.glob("soak-*.md")
    return code, orjson.loads(json_path.read_bytes()), md_path.read_text()


def test_it_samples_every_window_after_a_baseline(report):
    code, result, _ = report
    assert code == 0
    samples = result["samples"]
    assert [s["elapsed_s"] for s in samples] == [SAMPLE_SECONDS * i for i in range(WINDOWS + 1)]
    assert samples[0]["window"] is None and all(s["window"] is not None for s in samples[1:])
    for sample in samples:
        assert len(sample["workers"]) == gunicorn_conf.workers, sample
        assert all(0 < w["uss_mb"] <= w["rss_mb"] for w in sample["workers"])
        assert sample["master_rss_mb"] > 0 and sample["postgres"]["rss_mb"] > 0
    rows = [s["raw_events"] for s in samples]
    assert rows[0] == 0 and rows == sorted(rows) and rows[-1] > 0


def test_every_event_was_accepted_and_stored_without_an_error(report):
    _, result, _ = report
    load = result["summary"]["load"]
    assert load["sent"] == MINUTES * 60 * RATE
    assert load["ok"] == load["sent"] == load["rows_stored"] == result["samples"][-1]["raw_events"]
    assert load["errors"] == 0 and load["unanswered"] == 0
    assert all(s["window"]["errors"] == 0 and s["window"]["p99_ms"] is not None for s in result["samples"][1:])


def test_each_worker_has_a_row_with_its_growth_and_none_was_replaced(report):
    _, result, text = report
    workers = result["summary"]["workers"]
    assert len(workers) == gunicorn_conf.workers and result["summary"]["replaced"] == []
    for worker in workers:
        assert worker["samples"] == WINDOWS + 1 and worker["growth_mb"] is not None
        assert worker["flat"] == (worker["pct_per_hour"] < MAX_GROWTH_PCT_PER_HOUR)
        assert re.search(rf"^\| {worker['pid']} \| {WINDOWS + 1} \| 0:00-0:24 \| [\d.]+ MB \| [\d.]+ MB \|", text,
                         re.MULTILINE), text


def test_the_report_has_both_goals_with_the_verdict_of_their_figures_and_the_whole_curve(report):
    _, result, text = report
    goals = re.findall(r"^\| (API workers' memory flat|the offered load taken in full)[^|]* \|[^|]+\|([^|]+)\| "
                       r"(met|\*\*MISSED\*\*)", text, re.MULTILINE)
    assert [g[0] for g in goals] == ["API workers' memory flat", "the offered load taken in full"], text
    flat = all(w["flat"] for w in result["summary"]["workers"])
    assert (goals[0][2] == "met") == flat == result["summary"]["flat"]
    assert goals[1][2] == "met"
    curve = re.findall(r"^\| \d+:\d\d \| ", text, re.MULTILINE)
    assert len(curve) == WINDOWS + 1


def _sample(elapsed_s: float, workers: dict[int, float]) -> dict:
    window = None if elapsed_s == 0 else {"accepted_per_s": 500.0, "p50_ms": 2.0, "p99_ms": 9.0, "errors": 0}
    return {"elapsed_s": elapsed_s, "window": window, "raw_events": int(elapsed_s * 500), "master_rss_mb": 60.0,
            "postgres": None, "cores": {"api": 0.5},
            "workers": [{"pid": pid, "uss_mb": uss, "rss_mb": uss + 30} for pid, uss in workers.items()]}


def _curve(uss: dict[int, list[float]], seconds: int = 3600) -> list[dict]:
    """Samples every 300 s of an hour with each worker's USS in turn (a missing value: the worker was not there)."""
    steps = len(next(iter(uss.values())))
    return [_sample(i * seconds / (steps - 1), {pid: values[i] for pid, values in uss.items() if values[i]})
            for i in range(steps)]


LOAD = {"sent": 1_800_000, "ok": 1_800_000, "errors": 0, "unanswered": 0, "reconnects": {}}


def test_a_worker_that_grows_misses_the_goal_and_a_flat_one_meets_it():
    grows = [100.0, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111]  # about 12% an hour
    flat = [100.0, 100, 100.5, 100, 99.8, 100.2, 100, 100.3, 100, 100.1, 100, 100.2, 100.1]
    summary = summarize(_curve({1: grows, 2: flat}), LOAD, 1_800_000, 3600)
    by_pid = {w["pid"]: w for w in summary["workers"]}
    assert not by_pid[1]["flat"] and by_pid[1]["pct_per_hour"] > MAX_GROWTH_PCT_PER_HOUR
    assert by_pid[1]["growth_mb"] == pytest.approx(9.0)  # median 110 of the last quarter, 101 of the first
    assert by_pid[2]["flat"] and abs(by_pid[2]["pct_per_hour"]) < 1
    assert not summary["flat"] and summary["goals"][0]["status"] == "MISSED"
    assert summarize(_curve({2: flat}), LOAD, 1_800_000, 3600)["flat"]


def test_a_worker_gunicorn_replaced_is_reported_and_misses_the_goal():
    old = [100.0] * 7 + [None] * 6
    new = [None] * 7 + [90.0] * 6
    summary = summarize(_curve({1: old, 2: [100.0] * 13, 3: new}), LOAD, 1_800_000, 3600)
    assert summary["replaced"] == [{"elapsed_s": 2100.0, "gone": [1], "new": [3]}]
    assert {w["pid"]: w["growth_mb"] for w in summary["workers"]} == {1: None, 2: 0.0, 3: None}
    assert not summary["flat"] and "replaced" in summary["goals"][0]["note"]


def test_lost_events_miss_the_load_goal():
    summary = summarize(_curve({1: [100.0] * 13}), {**LOAD, "ok": 1_799_990, "errors": 10}, 1_799_990, 3600)
    assert summary["flat"] and summary["goals"][1]["status"] == "MISSED"


def test_a_long_curve_is_thinned_to_about_thirty_rows_ending_with_the_last_sample():
    samples = [_sample(30 * i, {1: 100.0}) for i in range(121)]
    shown = curve_rows(samples)
    assert len(shown) <= MAX_CURVE_ROWS + 1 and shown[0] is samples[0] and shown[-1] is samples[-1]
    short = samples[:20]
    assert curve_rows(short) == short


def test_the_markdown_of_a_replaced_worker_names_it():
    samples = _curve({1: [100.0] * 7 + [None] * 6, 3: [None] * 7 + [90.0] * 6})
    result = {"started_at": "2026-11-30T18:00:00+00:00", "seconds": 3660,
              "machine": {"cpu": "cpu", "cores": 2, "memory_gib": 23.5, "kernel": "6", "python": "3.11",
                          "postgresql": "18", "gunicorn": "27", "postgresql_settings": {},
                          "load_average_at_start": [1.0], "load_average_at_end": [1.0]},
              "code": {"commit": "abc1234", "uncommitted": []},
              "plan": {"minutes": 60, "rate": 500, "sample_seconds": 300, "connections": 32},
              "samples": samples, "summary": summarize(samples, LOAD, 1_800_000, 3600)}
    text = markdown(result)
    assert "**Workers replaced by gunicorn**: at 35:00 gone [1], new [3]." in text
    assert "| API workers' memory flat over the soak (issue 13) |" in text and "**MISSED**" in text
