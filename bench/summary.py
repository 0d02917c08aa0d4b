"""Medians over rounds, paired ratios, CPU per event, and each QUALITY.md goal judged met or missed."""

from __future__ import annotations

import os

from bench.stats import median, paired_ratio

BATCH_RATIO_GOAL = 0.6  # in every round, not only the median
P99_GOALS = ((1000, 25.0), (2000, 50.0))  # (offered events/s, p99 ms)
HELLO_RATIO_GOAL = 0.6  # of the best hello-world server of each round
IDLE_WORKER_SHARE = 0.05  # a worker under this share of the workers' CPU got (next to) no connection
SLOW_DISK_FSYNCS = 1000  # QUALITY.md: below this the fsync goal applies; above it CPU is the ceiling


def best_server(per_s: dict[str, float]) -> str:
    """The server that answered most requests a second (the first named of a tie)."""
    return max(per_s, key=lambda name: per_s[name])


def one_worker_held_all(worker_cores: list[float]) -> bool:
    """A worker used under 5% of the workers' CPU: gunicorn gave its connections to the other (with 2 workers,
    one worker held every connection, and one GIL capped the server at about one core)."""
    total = sum(worker_cores)
    return len(worker_cores) >= 2 and total > 0 and min(worker_cores) < IDLE_WORKER_SHARE * total


def met_in_every_round(ratios: list[float], goal: float) -> bool:
    return bool(ratios) and min(ratios) >= goal


def _cpu_ms(cores: float, per_s: float) -> float:
    """Milliseconds of CPU per unit, from cores used at `per_s` units a second."""
    return round(cores / per_s * 1000, 3) if per_s else float("nan")


def _median_cpu_ms(sides: list[dict], tree: str, rate_key: str, unit: float = 1) -> float:
    """Median CPU ms of one process tree per `unit` units, over the rounds of one side of a comparison."""
    return median([_cpu_ms(side["cores"].get(tree, 0.0), side[rate_key] / unit) for side in sides])


def _api_workers(side: dict) -> list[float]:
    return side["cores"].get("api_workers", [])


def _batch_round(r: dict) -> dict:
    workers = _api_workers(r["http"])
    return {"order": r.get("order", ["copy", "http"]), "copy_rows_per_s": r["copy"]["rows_per_s"],
            "http_rows_per_s": r["http"]["rows_per_s"], "ratio": r["ratio"], "api_worker_cores": workers,
            "one_worker_held_all": one_worker_held_all(workers)}


def _batch(rounds: list[dict]) -> dict:
    copies, posts = [r["copy"] for r in rounds], [r["http"] for r in rounds]
    copy, http = [c["rows_per_s"] for c in copies], [h["rows_per_s"] for h in posts]
    per_round = [_batch_round(r) for r in rounds]
    ratios = [r["ratio"] for r in rounds]
    return {
        "copy_rows_per_s": round(median(copy)), "http_rows_per_s": round(median(http)),
        "ratio": round(paired_ratio(http, copy), 3), "ratios": ratios, "min_ratio": min(ratios),
        "met_every_round": met_in_every_round(ratios, BATCH_RATIO_GOAL),
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
        "api_worker_cores": [r["api_worker_cores"] for r in per_round],
        "one_worker_rounds": sum(r["one_worker_held_all"] for r in per_round),
        # the batch path's own efficiency, apart from how gunicorn spread the connections
        "ratio_both_workers": _median_or_none([r["ratio"] for r in per_round if not r["one_worker_held_all"]]),
        "rounds": per_round,
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


def _reconnects_per_request(side: dict) -> float:
    """New connections the load generator opened per request sent (1.0: the server closed after each)."""
    return round(sum(side.get("reconnects", {}).values()) / side["sent"], 3) if side.get("sent") else 0.0


def _server(sides: list[dict], tree: str) -> dict:
    """One server's closed-loop figures, medians over its rounds."""
    workers = [side["cores"].get(f"{tree}_workers", []) for side in sides]
    return {
        "per_s": round(median([s["ok_per_s"] for s in sides])),
        "p99_ms": median([s["latency_ms"].get("p99", float("inf")) for s in sides]),
        "cores": median([s["cores"].get(tree, 0.0) for s in sides]),
        "cpu_ms_per_request": _median_cpu_ms(sides, tree, "ok_per_s"),
        "reconnects_per_request": median([_reconnects_per_request(s) for s in sides]),
        "errors": sum(n for s in sides for status, n in s["statuses"].items() if int(status) != 200),
        "worker_cores": workers, "one_worker_rounds": sum(one_worker_held_all(w) for w in workers),
    }


def _closed_round(r: dict) -> dict:
    workers = _api_workers(r["api"])
    return {"order": r["order"], "api_per_s": round(r["api"]["ok_per_s"]),
            "hello_per_s": {name: round(h["ok_per_s"]) for name, h in r["hello"].items()},
            "best_hello": r["best_hello"], "ratio": r["ratio"], "api_worker_cores": workers,
            "one_worker_held_all": one_worker_held_all(workers)}


def _closed_loop(rounds: list[dict]) -> dict:
    apis = [r["api"] for r in rounds]
    hellos = {name: _server([r["hello"][name] for r in rounds], f"hello-{name}") for name in rounds[0]["hello"]}
    best = best_server({name: h["per_s"] for name, h in hellos.items()})
    per_round = [_closed_round(r) for r in rounds]
    return {
        "api": _server(apis, "api"), "hello": hellos, "best_hello": best,
        "best_in_rounds": {name: sum(r["best_hello"] == name for r in rounds) for name in hellos},
        "api_per_s": round(median([a["ok_per_s"] for a in apis])), "best_hello_per_s": hellos[best]["per_s"],
        # each round against its own best server: the servers' order drifts with the machine's noise
        "ratio": round(median([r["ratio"] for r in rounds]), 3), "ratios": [r["ratio"] for r in rounds],
        "events_per_commit": round(median([a["ok"] / a["commits"] for a in apis if a["commits"]]), 2),
        "cpu_ms_per_request": {
            "api": _median_cpu_ms(apis, "api", "ok_per_s"),
            "api_postgres": _median_cpu_ms(apis, "postgres", "ok_per_s"),
            "client": _median_cpu_ms(apis, "bench", "ok_per_s"),
        },
        "api_worker_cores": [r["api_worker_cores"] for r in per_round],
        "one_worker_rounds": sum(r["one_worker_held_all"] for r in per_round),
        "machine_busy_cores": median([_busy(a["cores"]) for a in apis]),
        "rounds": per_round,
    }


def _busy(cores: dict) -> float:
    """Cores the whole machine used: API, PostgreSQL, client and everything else (the idle hello-worlds not)."""
    return round(sum(v for k, v in cores.items() if not k.endswith("_workers") and not k.startswith("hello")), 2)


def _median_or_none(values: list[float]) -> float | None:
    return round(median(values), 3) if values else None


def _all_measurements(raw: dict) -> list[dict]:
    return ([r[s] for r in raw["batch"] for s in ("copy", "http")] + raw["open_loop"]
            + [r["api"] for r in raw["closed_loop"]] + [h for r in raw["closed_loop"] for h in r["hello"].values()])


def _goal(name: str, target: str, measured: str, met: bool | None, note: str = "") -> dict:
    return {"goal": name, "target": target, "measured": measured,
            "status": "n/a" if met is None else ("met" if met else "MISSED"), "note": note}


def _batch_goal(batch: dict) -> dict:
    return _goal("batch path vs raw COPY", f">= {BATCH_RATIO_GOAL:.0%} in every round",
                 f"lowest round {batch['min_ratio']:.1%}, median {batch['ratio']:.1%} "
                 f"({batch['http_rows_per_s']:,} vs {batch['copy_rows_per_s']:,} rows/s)",
                 batch["met_every_round"])


def _p99_goal(open_loop: dict, rate: int, goal_ms: float) -> dict:
    at_rate = open_loop.get(str(rate), {})
    p99 = at_rate.get("p99_ms", float("inf"))
    return _goal(f"single-event p99 at {rate}/s", f"<= {goal_ms:.0f} ms",
                 f"{p99:,.1f} ms (achieved {at_rate.get('achieved_per_s', 0):,}/s, "
                 f"errors {at_rate.get('errors', 0):,})",
                 p99 <= goal_ms and at_rate.get("errors", 1) == 0)


def _hello_goal(closed: dict) -> dict:
    return _goal("single-event req/s vs the best Flask hello-world", f">= {HELLO_RATIO_GOAL:.0%}",
                 f"{closed['ratio']:.1%} (API {closed['api_per_s']:,} req/s; best hello-world: "
                 f"{closed['best_hello']}, {closed['best_hello_per_s']:,} req/s)",
                 closed["ratio"] >= HELLO_RATIO_GOAL, "median of the per-round ratios, each against that round's best")


def _spread_goal(batch: dict, closed: dict) -> dict:
    held = batch["one_worker_rounds"] + closed["one_worker_rounds"]
    return _goal("no round where one API worker holds every connection", "0 rounds",
                 f"batch {batch['one_worker_rounds']} of {len(batch['rounds'])}, closed loop "
                 f"{closed['one_worker_rounds']} of {len(closed['rounds'])}", held == 0,
                 f"held: a worker used < {IDLE_WORKER_SHARE:.0%} of the API workers' CPU")


def _flush_goal(closed: dict, fsync: float, cores: int) -> dict:
    busy = closed["machine_busy_cores"]
    note = ("disk >= 1k fsyncs/s: QUALITY.md judges CPU instead (the hello-world goal)" if fsync >= SLOW_DISK_FSYNCS
            else "disk under 1k fsyncs/s: this goal applies")
    note += (f"; the machine was CPU-bound ({busy} of {cores} cores busy, "
             f"{closed['events_per_commit']} events per commit)" if busy >= 0.9 * cores else "")
    return _goal("durable single events vs disk flushes", "> 2x fsyncs/s",
                 f"{closed['api_per_s'] / fsync:.2f}x ({closed['api_per_s']:,} req/s vs {fsync:,.0f} fsyncs/s)",
                 closed["api_per_s"] > 2 * fsync if fsync < SLOW_DISK_FSYNCS else None, note)


def _goals(batch: dict, open_loop: dict, closed: dict, fsync: float, cores: int) -> list[dict]:
    return [_batch_goal(batch), *(_p99_goal(open_loop, rate, ms) for rate, ms in P99_GOALS), _hello_goal(closed),
            _spread_goal(batch, closed), _flush_goal(closed, fsync, cores)]


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
