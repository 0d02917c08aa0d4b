"""Medians over rounds, paired ratios, CPU per event, and each QUALITY.md goal judged met or missed."""

from __future__ import annotations

import os

from bench.stats import median, paired_ratio

BATCH_RATIO_GOAL = 0.5
P99_GOAL_MS = 25.0
P99_GOAL_RATE = 1000
HELLO_RATIO_GOAL = 0.4
SLOW_DISK_FSYNCS = 1000  # QUALITY.md: below this the fsync goal applies; above it CPU is the ceiling


def _cpu_ms(cores: float, per_s: float) -> float:
    """Milliseconds of CPU per unit, from cores used at `per_s` units a second."""
    return round(cores / per_s * 1000, 3) if per_s else float("nan")


def _median_cpu_ms(sides: list[dict], tree: str, rate_key: str, unit: float = 1) -> float:
    """Median CPU ms of one process tree per `unit` units, over the rounds of one side of a comparison."""
    return median([_cpu_ms(side["cores"].get(tree, 0.0), side[rate_key] / unit) for side in sides])


def _batch(rounds: list[dict]) -> dict:
    copies, posts = [r["copy"] for r in rounds], [r["http"] for r in rounds]
    copy, http = [c["rows_per_s"] for c in copies], [h["rows_per_s"] for h in posts]
    return {
        "copy_rows_per_s": round(median(copy)), "http_rows_per_s": round(median(http)),
        "ratio": round(paired_ratio(http, copy), 3), "ratios": [r["ratio"] for r in rounds],
        "http_connections": posts[0]["connections"],
        "cpu_ms_per_1k_rows": {
            "copy_postgres": _median_cpu_ms(copies, "postgres", "rows_per_s", 1000),
            "copy_client": _median_cpu_ms(copies, "bench", "rows_per_s", 1000),
            "http_api": _median_cpu_ms(posts, "api", "rows_per_s", 1000),
            "http_postgres": _median_cpu_ms(posts, "postgres", "rows_per_s", 1000),
        },
        "wal_bytes_per_row": {"copy": round(median([c["wal_bytes"] / c["rows"] for c in copies])),
                              "http": round(median([h["wal_bytes"] / h["rows"] for h in posts]))},
        "rows_stored_ok": all(side["rows_stored"] == side["rows"] for side in copies + posts),
        "api_worker_cores": [h["cores"]["api_workers"] for h in posts],
        "one_worker_rounds": _lopsided(posts),
        # the batch path's own efficiency, apart from how gunicorn spread the connections
        "ratio_both_workers": _median_or_none([r["ratio"] for r in rounds if not _lopsided([r["http"]])]),
    }


def _open_loop(rounds: list[dict]) -> dict:
    by_rate: dict[int, list[dict]] = {}
    for r in rounds:
        by_rate.setdefault(r["offered_per_s"], []).append(r)
    return {str(rate): {
        "achieved_per_s": round(median([r["achieved_per_s"] for r in rs])),
        "p50_ms": median([r["latency_ms"].get("p50", float("inf")) for r in rs]),
        "p99_ms": median([r["latency_ms"].get("p99", float("inf")) for r in rs]),
        "worst_p99_ms": max(r["latency_ms"].get("p99", float("inf")) for r in rs),
        "errors": sum(r["errors"] for r in rs), "sent": sum(r["sent"] for r in rs),
        "send_lag_p99_ms": median([r["send_lag_ms"].get("p99", float("inf")) for r in rs]),
        "events_per_commit": round(median([r["ok"] / r["commits"] if r["commits"] else 0 for r in rs]), 2),
        "api_cores": median([r["cores"]["api"] for r in rs]),
        "rounds": len(rs),
    } for rate, rs in sorted(by_rate.items())}


def _closed_loop(rounds: list[dict]) -> dict:
    apis, hellos = [r["api"] for r in rounds], [r["hello"] for r in rounds]
    api, hello = [a["ok_per_s"] for a in apis], [h["ok_per_s"] for h in hellos]
    return {
        "api_per_s": round(median(api)), "hello_per_s": round(median(hello)),
        "ratio": round(paired_ratio(api, hello), 3), "ratios": [r["ratio"] for r in rounds],
        "api_p99_ms": median([a["latency_ms"].get("p99", float("inf")) for a in apis]),
        "hello_p99_ms": median([h["latency_ms"].get("p99", float("inf")) for h in hellos]),
        "events_per_commit": round(median([a["ok"] / a["commits"] for a in apis if a["commits"]]), 2),
        "cpu_ms_per_request": {
            "api": _median_cpu_ms(apis, "api", "ok_per_s"),
            "api_postgres": _median_cpu_ms(apis, "postgres", "ok_per_s"),
            "hello": _median_cpu_ms(hellos, "hello", "ok_per_s"),
            "client": _median_cpu_ms(apis, "bench", "ok_per_s"),
        },
        "api_worker_cores": [a["cores"]["api_workers"] for a in apis],
        "one_worker_rounds": _lopsided(apis),
        "machine_busy_cores": median([_busy(a["cores"]) for a in apis]),
    }


def _busy(cores: dict) -> float:
    """Cores the whole machine used: API, PostgreSQL, client and everything else."""
    return round(sum(v for k, v in cores.items() if k not in ("api_workers", "hello")), 2)


def _median_or_none(values: list[float]) -> float | None:
    return round(median(values), 3) if values else None


def _lopsided(sides: list[dict]) -> int:
    """Rounds in which one API worker did (nearly) all the work: gunicorn gave it every connection."""
    return sum(1 for side in sides
               if len(w := side["cores"]["api_workers"]) < 2 or w[1] < 0.15 * w[0])


def _all_measurements(raw: dict) -> list[dict]:
    return ([r[s] for r in raw["batch"] for s in ("copy", "http")] + raw["open_loop"]
            + [r[s] for r in raw["closed_loop"] for s in ("api", "hello")])


def _goal(name: str, target: str, measured: str, met: bool | None, note: str = "") -> dict:
    return {"goal": name, "target": target, "measured": measured,
            "status": "n/a" if met is None else ("met" if met else "MISSED"), "note": note}


def _goals(batch: dict, open_loop: dict, closed: dict, fsync: float, cores: int) -> list[dict]:
    at_goal_rate = open_loop.get(str(P99_GOAL_RATE), {})
    p99 = at_goal_rate.get("p99_ms", float("inf"))
    busy = closed["machine_busy_cores"]
    flushes_note = ("disk >= 1k fsyncs/s: QUALITY.md judges CPU instead (goal 3)" if fsync >= SLOW_DISK_FSYNCS
                    else "disk under 1k fsyncs/s: this goal applies")
    flushes_note += (f"; the machine was CPU-bound ({busy} of {cores} cores busy, "
                     f"{closed['events_per_commit']} events per commit)" if busy >= 0.9 * cores else "")
    return [
        _goal("batch path vs raw COPY", f">= {BATCH_RATIO_GOAL:.0%}",
              f"{batch['ratio']:.1%} ({batch['http_rows_per_s']:,} vs {batch['copy_rows_per_s']:,} rows/s)",
              batch["ratio"] >= BATCH_RATIO_GOAL),
        _goal(f"single-event p99 at {P99_GOAL_RATE}/s", f"<= {P99_GOAL_MS:.0f} ms",
              f"{p99:,.1f} ms (achieved {at_goal_rate.get('achieved_per_s', 0):,}/s, "
              f"errors {at_goal_rate.get('errors', 0):,})",
              p99 <= P99_GOAL_MS and at_goal_rate.get("errors", 1) == 0),
        _goal("single-event req/s vs Flask hello-world", f">= {HELLO_RATIO_GOAL:.0%}",
              f"{closed['ratio']:.1%} ({closed['api_per_s']:,} vs {closed['hello_per_s']:,} req/s)",
              closed["ratio"] >= HELLO_RATIO_GOAL),
        _goal("durable single events vs disk flushes", "> 2x fsyncs/s",
              f"{closed['api_per_s'] / fsync:.2f}x ({closed['api_per_s']:,} req/s vs {fsync:,.0f} fsyncs/s)",
              closed["api_per_s"] > 2 * fsync if fsync < SLOW_DISK_FSYNCS else None, flushes_note),
    ]


def summarize(raw: dict) -> dict:
    batch, open_loop = _batch(raw["batch"]), _open_loop(raw["open_loop"])
    closed = _closed_loop(raw["closed_loop"])
    fsync = median(raw["fsync_per_s"])
    return {
        "fsync_per_s": round(fsync), "batch": batch, "open_loop": open_loop, "closed_loop": closed,
        "other_load_cores": median([m["cores"]["other"] for m in _all_measurements(raw)]),
        "client_cpu_cores_max": max(m.get("client_cpu_cores", 0) for m in _all_measurements(raw)
                                    if "statuses" in m),  # the load generator's runs, not the COPY client
        "goals": _goals(batch, open_loop, closed, fsync, os.cpu_count() or 1),
    }
