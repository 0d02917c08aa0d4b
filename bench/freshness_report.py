"""The freshness benchmark's figures and report, as pure functions of what bench/freshness.py measured and of the
runs Dagster recorded (bench/freshness_dagster.py): the percentiles, where each sample's time went, the Markdown."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

#: QUALITY.md and issue 13: an event posted under `monkeytown up --simulate` is in marts.games within 30 s at p95.
GOAL_SECONDS = 30.0
GOAL_PERCENTILE = 95

#: The stretches of a sample, in the order they happen: each ends at the next one's start, the last when the game
#: was seen in marts.games. Their sum is the sample's wall time.
SEGMENTS = ("sensor", "queue", "launch", "run")
CAUSES = {
    "sensor": "waited for the sensor",
    "queue": "waited in the run queue",
    "queue_behind": "waited behind a run in progress",
    "launch": "the run's process starting",
    "run": "the run itself",
}


def nearest_rank(values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile: the smallest value with at least `percent` % of the values at or below it
    (p95 of 20 samples is the 19th smallest). NaN for no values; an infinite value (a sample that never arrived)
    stays infinite."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


# --- which run picked a sample up, and where its time went ---------------------------------------------------


def picking_run(runs: Sequence[dict], posted_at: float, seen_at: float) -> dict | None:
    """The refresh_core_models run that brought the event into marts.games: the last one that started before the
    game was seen and had not ended before the event was posted. The run queue lets one such run at a time, so
    the run in progress (or just finished) when the game showed up is the one that merged it."""
    candidates = [r for r in runs if r.get("started_at") is not None and r["started_at"] <= seen_at
                  and (r.get("ended_at") is None or r["ended_at"] >= posted_at)]
    return max(candidates, key=lambda r: r["started_at"], default=None)


def run_in_progress(runs: Sequence[dict], since: float, until: float | None = None,
                    other_than: str | None = None) -> dict | None:
    """A core-models run in progress at some moment from `since` to `until` (by default at `since` alone)."""
    until = since if until is None else until
    for run in runs:
        if run["run_id"] == other_than or run.get("started_at") is None:
            continue
        if run["started_at"] <= until and (run.get("ended_at") is None or run["ended_at"] > since):
            return run
    return None


def requested_at(run: dict) -> float | None:
    """When the sensor asked for the run: its creation (the end of the tick's evaluation)."""
    return run.get("created_at")


def breakdown(sample: dict, runs: Sequence[dict], others: Sequence[dict] = ()) -> dict | None:
    """Where one sample's time went, from Dagster's records of the core-models runs (dicts of epoch seconds:
    run_id, tick_at, created_at, dequeued_at, started_at, games_at, ended_at) and of the other jobs' runs (job,
    dequeued_at, started_at, ended_at: they share the queue's two slots). None when the game was never seen.

    - sensor: from the post until the sensor's tick created the run that picked the event up (0 when that run was
      already waiting in the queue);
    - queue: from then until the run queue let the run go (behind a run in progress, other jobs' runs in both
      slots, or the daemon's next look); `behind_run_s` is the part of it while the core-models run ahead ran;
    - launch: from the dequeue (Dagster's RUN_STARTING) until the run's process started executing;
    - run: from the run's start until the game was seen in marts.games (the quarantine, staging, then the games
      model; the players model and the checks after it do not count).
    """
    posted, seen = sample["posted_at"], sample.get("seen_at")
    if seen is None:
        return None
    run = picking_run(runs, posted, seen)
    if run is None:
        return {"run_id": None, "note": "no refresh_core_models run started between the post and the sighting"}
    marks = [posted, requested_at(run), run.get("dequeued_at"), run["started_at"], seen]
    # a run requested or started before the post took the event in as it came: those stretches are 0
    bounded, last = [], posted
    for mark in marks:
        last = min(max(last, mark if mark is not None else last), seen)
        bounded.append(last)
    segments = {name: round(bounded[i + 1] - bounded[i], 2) for i, name in enumerate(SEGMENTS)}
    if run.get("dequeued_at") is None:  # no dequeue recorded: the queue and the launch are one stretch
        segments["queue"], segments["launch"] = round(segments["queue"] + segments["launch"], 2), None
    queue_from, queue_until = bounded[1], bounded[2] if run.get("dequeued_at") else bounded[3]
    ahead = run_in_progress(runs, queue_from, queue_until, other_than=run["run_id"]) if segments["queue"] else None
    behind_s = (min(ahead.get("ended_at") or queue_until, queue_until) - max(ahead["started_at"], queue_from)
                if ahead else 0.0)
    beside = sorted({o["job"] for o in others if segments["queue"] and (held := _slot_from(o)) is not None
                     and held < queue_until and (o.get("ended_at") or queue_until) > queue_from})
    cause = max(SEGMENTS, key=lambda name: segments[name] or 0)
    if cause == "queue" and ahead is not None and behind_s >= segments["queue"] / 2:
        cause = "queue_behind"
    return {
        "run_id": run["run_id"],
        "tick_id": run.get("tick_id"),
        "tick_at": run.get("tick_at"),
        "requested_before_post": (requested_at(run) or posted) < posted,
        "segments": segments,
        "behind_run": ahead["run_id"] if ahead else None,
        "behind_run_s": round(max(behind_s, 0.0), 2),
        "other_jobs_while_queued": beside,
        "in_progress_at_post": (busy["run_id"] if (busy := run_in_progress(runs, posted)) else None),
        "run_started_at": run["started_at"],
        "games_after_start_s": _since(run.get("games_at"), run["started_at"]),
        "run_took_s": _since(run.get("ended_at"), run["started_at"]),
        "cause": cause,
    }


def _slot_from(run: dict) -> float | None:
    """When a run took one of the queue's slots: as the daemon launched it (RUN_STARTING), else its start."""
    return run.get("dequeued_at") or run.get("started_at")


def _since(mark: float | None, origin: float | None) -> float | None:
    return None if mark is None or origin is None else round(mark - origin, 2)


# --- the summary ---------------------------------------------------------------------------------------------


def summarize(samples: Sequence[dict], warm_up: dict | None) -> dict:
    """The figures of the timed samples (never the warm-up, which includes the first build of the marts)."""
    seconds = [s["seconds"] for s in samples]
    p95 = nearest_rank(seconds, GOAL_PERCENTILE)
    finite = [x for x in seconds if math.isfinite(x)]
    parts = [s["breakdown"] for s in samples if s.get("breakdown") and s["breakdown"].get("run_id")]
    medians = {name: _median([p["segments"][name] for p in parts if p["segments"].get(name) is not None])
               for name in SEGMENTS}
    return {
        "samples": len(seconds),
        "p50_s": _round(nearest_rank(seconds, 50)),
        "p95_s": _round(p95),
        "max_s": _round(max(seconds)) if seconds else None,
        "never_arrived": len(seconds) - len(finite),
        "goal_s": GOAL_SECONDS,
        "goal_met": bool(seconds) and p95 <= GOAL_SECONDS,
        "segment_medians_s": medians,
        "causes": dict(Counter(p["cause"] for p in parts)),
        "behind_a_run": sum(1 for p in parts if p["behind_run"]),
        "warm_up_s": _round(warm_up["seconds"]) if warm_up else None,
    }


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def _round(x: float) -> float | None:
    if x is None or math.isnan(x):
        return None
    return round(x, 2) if math.isfinite(x) else x


# --- Markdown ------------------------------------------------------------------------------------------------


def _clock(epoch: float | None) -> str:
    return "" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S")


def _s(x: float | None) -> str:
    if x is None:
        return ""
    return "never" if math.isinf(x) else f"{x:.1f}"


def _explain(part: dict | None) -> str:
    if part is None:
        return "not seen"
    if part.get("run_id") is None:
        return part.get("note", "no run found")
    seg = part["segments"]
    words = []
    if seg["sensor"]:
        words.append(f"sensor {seg['sensor']:.1f} s")
    elif part["requested_before_post"]:
        words.append("its run was already queued")
    if seg["queue"]:
        behind = (f" ({part['behind_run_s']:.1f} s of it behind {part['behind_run'][:8]})" if part["behind_run"]
                  else "")
        beside = part.get("other_jobs_while_queued") or []
        words.append(f"queue {seg['queue']:.1f} s{behind}" + (f", {', '.join(beside)} running" if beside else ""))
    if seg.get("launch"):
        words.append(f"launch {seg['launch']:.1f} s")
    words.append(f"run {seg['run']:.1f} s")
    return ", ".join(words) + f": {CAUSES[part['cause']]}"


def _sample_rows(samples: Sequence[dict]) -> list[str]:
    rows = ["| # | posted (UTC) | seconds | load 1 min | run | tick (UTC) | sensor | queue | launch | run until "
            "seen | games model after | whole run | where the time went |",
            "| ---: | --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for s in samples:
        part = s.get("breakdown")
        seg = (part or {}).get("segments") or {}
        run = (part or {}).get("run_id")
        rows.append(
            f"| {s['number']} | {_clock(s['posted_at'])} | {_s(s['seconds'])} | {s['load_1min']:.2f} | "
            f"{run[:8] if run else ''} | {_clock((part or {}).get('tick_at'))} | {_s(seg.get('sensor'))} | "
            f"{_s(seg.get('queue'))} | {_s(seg.get('launch'))} | {_s(seg.get('run'))} | "
            f"{_s((part or {}).get('games_after_start_s'))} | {_s((part or {}).get('run_took_s'))} | "
            f"{_explain(part)} |")
    return rows


def _code(code: dict) -> str:
    changed = code.get("uncommitted") or []
    return f"commit {code.get('commit', 'unknown')}" + (
        f", with uncommitted changes in {', '.join(changed)}" if changed else " (no uncommitted changes in the "
        "platform's code)")


def markdown(result: dict) -> str:
    s, m = result["summary"], result["machine"]
    traffic = result["traffic"]
    simulator = ("the simulator's traffic flowing throughout (`monkeytown up --simulate`)" if result["simulate"]
                 else "without the simulator (`--no-simulate`: only the benchmark's own events)")
    status = "met" if s["goal_met"] else "MISSED"
    warm = result.get("warm_up")
    lines = [
        f"# Freshness, {result['started_at']} ({s['samples']} samples, {simulator})", "",
        f"**p95 <= {GOAL_SECONDS:g} s: {status}**: p50 {_s(s['p50_s'])} s, p95 {_s(s['p95_s'])} s, "
        f"max {_s(s['max_s'])} s over {s['samples']} events (nearest rank; the warm-up event is not among them"
        + (f"; {s['never_arrived']} never arrived within {result['plan']['limit_s']:g} s" if s["never_arrived"]
           else "") + ").", "",
        f"- Goal (QUALITY.md, issue 13): an event posted under `monkeytown up --simulate` is in `marts.games` "
        f"within {GOAL_SECONDS:g} s at p95.",
        "- Method: the platform as `monkeytown up" + (" --simulate" if result["simulate"] else "") + "` starts it; "
        f"each sample waits a random 0-{result['plan']['max_wait_s']:g} s, posts one `game_start` with a fresh "
        f"game_id and polls `marts.games` every {result['plan']['poll_s']:g} s until the game is there; the time "
        "runs from just before the POST to the poll that found it.",
        "- Warm-up (untimed): one event posted as soon as the platform was up, waited for until it reached the "
        "marts, so the first build of the marts is behind us before the timed samples start"
        + (f"; it took {_s(warm['seconds'])} s ({_explain(warm.get('breakdown'))})" if warm else "") + ".",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}; Python "
        f"{m['python']}, PostgreSQL {m['postgresql']}",
        f"- Load average (1, 5, 15 min): {_loads(m['load_average_at_start'])} before the platform started, "
        f"{_loads(m['load_average_at_end'])} after the last sample; per sample in the table",
        f"- Code: {_code(result['code'])}",
        f"- Traffic during the timed samples: {traffic['events']:,} events landed in raw.events in "
        f"{traffic['seconds']:.0f} s ({traffic['events_per_s']:.1f}/s), {traffic['own_events']} of them the "
        "benchmark's own",
        f"- Runs created during the timed samples: refresh_core_models {result['dagster']['core_runs']} "
        f"({_statuses(result['dagster']['core_statuses'])}, as the samples ended); other jobs' runs: "
        f"{_statuses(result['dagster']['other_jobs']) or 'none'}"
        + (f"; Dagster's records could not be read: {result['dagster']['error']}" if result["dagster"].get("error")
           else ""), "",
        "## Samples", "",
        "Where the time went, from Dagster's records (the run of `refresh_core_models` that brought the game into "
        "`marts.games`): **sensor**: from the post until the arrivals sensor's tick created that run (0 when the "
        "run was already queued); **queue**: until the run queue let it go (Dagster's RUN_STARTING: behind the "
        "core-models run in progress, if any, whose part is given, or other jobs' runs in the queue's two slots, or "
        "the daemon's next look); **launch**: until the run's process started executing (Dagster's RUN_START); "
        "**run until seen**: from the run's start until "
        "the game was in `marts.games`. The four add up to the sample's seconds. *games model after*: when the "
        "run recorded the `marts/games` materialization, from its start; *whole run*: start to end (the checks "
        "and `players` after the games model do not delay the game).", "",
        *_sample_rows(result["samples"]), "",
        "## Where the time went (medians over the samples)", "",
        "| sensor | queue | launch | run until seen |", "| ---: | ---: | ---: | ---: |",
        "| " + " | ".join(_s(s["segment_medians_s"][name]) for name in SEGMENTS) + " |", "",
        "Largest stretch per sample: " + (", ".join(f"{CAUSES[cause]} {count}" for cause, count in
                                                   sorted(s["causes"].items(), key=lambda kv: -kv[1])) or "none")
        + f"; samples that waited behind a run in progress: {s['behind_a_run']}.",
    ]
    return "\n".join(lines)


def _loads(values: Sequence[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in values)


def _statuses(counts: dict) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
