"""The soak benchmark's verdict and its Markdown report: each API worker's USS in the last quarter of the run against
the first (medians), as growth in MB and in % an hour; the workers gunicorn replaced; whether the offered load was
taken in full; and the curve, one row a sample."""

from __future__ import annotations

import math

from bench.stats import median

#: Growth of a worker's USS, first quarter to last, at or above which it is not flat: 5% an hour is over twice its
#: size in a day of steady traffic, and well above the few MB an allocator's arenas wander by.
MAX_GROWTH_PCT_PER_HOUR = 5.0
#: Rows of the curve in the report; a longer run shows every n-th sample and the last (the JSON has them all).
MAX_CURVE_ROWS = 30
GOAL_RUN_SECONDS = 3600


def load_samples(samples: list[dict]) -> list[dict]:
    """The samples taken under load (the first, the baseline, is taken warmed up and idle)."""
    return [s for s in samples if s["window"] is not None]


def quarters(samples: list[dict], seconds: float) -> tuple[list[dict], list[dict]]:
    """The load samples of the run's first quarter and of its last."""
    under_load = load_samples(samples)
    return ([s for s in under_load if s["elapsed_s"] <= seconds / 4],
            [s for s in under_load if s["elapsed_s"] > seconds * 3 / 4])


def worker_pids(samples: list[dict]) -> list[int]:
    """Every worker seen, in the order they first appeared."""
    return list(dict.fromkeys(w["pid"] for s in samples for w in s["workers"]))


def _seen(samples: list[dict], pid: int) -> list[tuple[float, dict]]:
    return [(s["elapsed_s"], w) for s in samples for w in s["workers"] if w["pid"] == pid]


def worker_growth(pid: int, first: list[dict], last: list[dict]) -> dict:
    """The worker's median USS in each quarter and its growth; None where it was not there for both."""
    early, late = _seen(first, pid), _seen(last, pid)
    if not early or not late:
        return {"pid": pid, "first_uss_mb": None, "last_uss_mb": None, "growth_mb": None, "growth_pct": None,
                "pct_per_hour": None, "flat": False}
    before, after = median([w["uss_mb"] for _, w in early]), median([w["uss_mb"] for _, w in late])
    # between the middles of the two quarters: the time the growth took
    hours = (median([t for t, _ in late]) - median([t for t, _ in early])) / 3600
    pct = (after - before) / before * 100
    per_hour = pct / hours if hours > 0 else math.inf
    return {"pid": pid, "first_uss_mb": round(before, 2), "last_uss_mb": round(after, 2),
            "growth_mb": round(after - before, 2), "growth_pct": round(pct, 2), "pct_per_hour": round(per_hour, 2),
            "flat": per_hour < MAX_GROWTH_PCT_PER_HOUR}


def replacements(samples: list[dict]) -> list[dict]:
    """Each change of the set of workers between two samples: the pids gone and the pids new."""
    changes, before = [], None
    for sample in samples:
        pids = {w["pid"] for w in sample["workers"]}
        if before is not None and pids != before:
            changes.append({"elapsed_s": sample["elapsed_s"], "gone": sorted(before - pids),
                            "new": sorted(pids - before)})
        before = pids
    return changes


def _worker_rows(samples: list[dict], seconds: float) -> list[dict]:
    first, last = quarters(samples, seconds)
    rows = []
    for pid in worker_pids(samples):
        seen = _seen(samples, pid)
        rows.append({**worker_growth(pid, first, last), "samples": len(seen), "from_s": seen[0][0],
                     "to_s": seen[-1][0], "last_rss_mb": seen[-1][1]["rss_mb"]})
    return rows


def load_figures(samples: list[dict], load: dict, rows: int, seconds: float) -> dict:
    windows = [s["window"] for s in load_samples(samples)]
    p99s = [w["p99_ms"] for w in windows if w["p99_ms"] is not None]
    return {"sent": load["sent"], "ok": load["ok"], "errors": load["errors"], "unanswered": load["unanswered"],
            "rows_stored": rows, "accepted_per_s": round(load["ok"] / seconds, 1),
            "window_accepted_min": min((w["accepted_per_s"] for w in windows), default=None),
            "window_p50_median_ms": median([w["p50_ms"] for w in windows if w["p50_ms"] is not None]),
            "window_p99_median_ms": median(p99s), "window_p99_max_ms": max(p99s, default=None),
            "reconnects": load["reconnects"], "client_cpu_cores": load.get("client_cpu_cores"),
            "other_cores_median": median([s["cores"].get("other", 0.0) for s in load_samples(samples)])}


def elapsed(seconds: float) -> str:
    """Seconds as m:ss, as the curve shows them."""
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def _worker_growth_text(worker: dict) -> str:
    if worker["growth_mb"] is None:
        return (f"pid {worker['pid']}: not there for the whole run (seen {elapsed(worker['from_s'])}-"
                f"{elapsed(worker['to_s'])})")
    return (f"pid {worker['pid']}: {worker['first_uss_mb']:.2f} -> {worker['last_uss_mb']:.2f} MB "
            f"({worker['growth_mb']:+.2f} MB, {worker['pct_per_hour']:+.2f}%/h)")


def _memory_goal(workers: list[dict], replaced: list[dict], seconds: float) -> dict:
    flat = bool(workers) and not replaced and all(w["flat"] for w in workers)
    notes = []
    if replaced:
        notes.append(f"gunicorn replaced workers {len(replaced)} time(s): a new worker starts small and hides growth")
    if seconds < GOAL_RUN_SECONDS:
        notes.append(f"a {seconds / 60:g}-minute run: the growth per hour extrapolates it; issue 13 asks for 60")
    return {"goal": "API workers' memory flat over the soak (issue 13)",
            "target": f"every worker's USS grows < {MAX_GROWTH_PCT_PER_HOUR:g}%/h (median of the first quarter "
                      "to the last); no worker replaced",
            "measured": "; ".join(_worker_growth_text(w) for w in workers) or "no worker seen",
            "status": "met" if flat else "MISSED", "note": "; ".join(notes)}


def _load_goal(figures: dict) -> dict:
    taken = (figures["errors"] == 0 and figures["unanswered"] == 0 and figures["ok"] == figures["sent"]
             and figures["rows_stored"] == figures["ok"])
    return {"goal": "the offered load taken in full (what the memory goal stands on)",
            "target": "every event accepted and stored, no error",
            "measured": f"{figures['ok']:,} of {figures['sent']:,} accepted ({figures['accepted_per_s']:,}/s), "
                        f"{figures['errors']:,} errors, {figures['unanswered']:,} unanswered; raw.events "
                        f"{figures['rows_stored']:,} rows; p99 per window: median "
                        f"{_cell(figures['window_p99_median_ms'], '{:,.1f}')} ms, worst "
                        f"{_cell(figures['window_p99_max_ms'], '{:,.1f}')} ms",
            "status": "met" if taken else "MISSED", "note": ""}


def summarize(samples: list[dict], load: dict, rows: int, seconds: float) -> dict:
    """The verdicts and the figures they stand on; `seconds` is the length of the load."""
    workers, replaced = _worker_rows(samples, seconds), replacements(samples)
    figures = load_figures(samples, load, rows, seconds)
    goals = [_memory_goal(workers, replaced, seconds), _load_goal(figures)]
    return {"seconds": seconds, "workers": workers, "replaced": replaced, "load": figures, "goals": goals,
            "flat": goals[0]["status"] == "met"}


# --- the Markdown ------------------------------------------------------------------------------------------------


def _header(result: dict) -> list[str]:
    m, plan, code = result["machine"], result["plan"], result["code"]
    settings = ", ".join(f"{k}={v}" for k, v in sorted(m["postgresql_settings"].items()))
    uncommitted = f" (uncommitted changes: {', '.join(code['uncommitted'])})" if code["uncommitted"] else ""
    samples = len(load_samples(result["samples"]))
    return [
        f"# Soak benchmark, {result['started_at']} ({plan['minutes']:g} min at {plan['rate']:,} events/s, "
        f"{result['seconds']} s in all)", "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}",
        f"- Python {m['python']}, PostgreSQL {m['postgresql']}, gunicorn {m['gunicorn']}",
        f"- PostgreSQL settings: {settings}",
        f"- Commit {code['commit']}{uncommitted}",
        f"- Load: single events (POST /api/events, one game event each, unique ids), open loop at {plan['rate']:,}/s "
        f"on {plan['connections']} keep-alive connections, latency from the scheduled send time, after the ingest "
        f"benchmark's warm-up; a sample at the end of every {plan['sample_seconds']:g} s ({samples} samples, and "
        "a baseline before the load)",
        f"- Load average at start: {', '.join(str(x) for x in m['load_average_at_start'])}; at the end: "
        f"{', '.join(str(x) for x in m.get('load_average_at_end', []))}; other processes used a median "
        f"{result['summary']['load']['other_cores_median']:.2f} cores under the load, the load generator "
        f"{result['summary']['load']['client_cpu_cores']} of a core",
    ]


def _goals(goals: list[dict]) -> list[str]:
    rows = ["## Goals", "", "| goal | target | measured | status |", "| --- | --- | --- | --- |"]
    for g in goals:
        status = "met" if g["status"] == "met" else f"**{g['status']}**"
        note = f" ({g['note']})" if g["note"] else ""
        rows.append(f"| {g['goal']} | {g['target']} | {g['measured']} | {status}{note} |")
    return rows


def _cell(value: float | None, fmt: str = "{:.1f}") -> str:
    return "" if value is None else fmt.format(value)


def _workers(summary: dict) -> list[str]:
    rows = [
        "## API workers", "",
        "USS: the pages the worker alone holds (what a leak grows); RSS adds the pages it still shares with the "
        "master. Medians of the samples in the run's first and last quarter.", "",
        "| worker (pid) | samples | seen | USS first quarter | USS last quarter | growth | per hour | RSS at its last "
        "sample | flat |", "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for w in summary["workers"]:
        flat = "yes" if w["flat"] else "**no**"
        rows.append(f"| {w['pid']} | {w['samples']} | {elapsed(w['from_s'])}-{elapsed(w['to_s'])} | "
                    f"{_cell(w['first_uss_mb'], '{:.2f} MB')} | {_cell(w['last_uss_mb'], '{:.2f} MB')} | "
                    f"{_cell(w['growth_mb'], '{:+.2f} MB')} | {_cell(w['pct_per_hour'], '{:+.2f}%')} | "
                    f"{w['last_rss_mb']:.1f} MB | {flat} |")
    if summary["replaced"]:
        changes = "; ".join(f"at {elapsed(c['elapsed_s'])} gone {c['gone'] or 'none'}, new {c['new'] or 'none'}"
                            for c in summary["replaced"])
        rows += ["", f"**Workers replaced by gunicorn**: {changes}."]
    else:
        rows += ["", "No worker was replaced: the same pids from the baseline to the last sample."]
    return rows


def curve_rows(samples: list[dict]) -> list[dict]:
    """Every sample up to MAX_CURVE_ROWS, else every n-th from the baseline on, and always the last."""
    if len(samples) <= MAX_CURVE_ROWS:
        return samples
    step = math.ceil(len(samples) / MAX_CURVE_ROWS)
    shown = samples[::step]
    return shown if shown[-1] is samples[-1] else [*shown, samples[-1]]


def _curve_row(sample: dict, pids: list[int]) -> str:
    window = sample["window"]
    by_pid = {w["pid"]: w for w in sample["workers"]}
    memory = " | ".join(f"{by_pid[p]['uss_mb']:.1f} / {by_pid[p]['rss_mb']:.1f}" if p in by_pid else "" for p in pids)
    postgres = "" if sample["postgres"] is None else f"{sample['postgres']['rss_mb']:.1f}"
    if window is None:
        load, cores = "baseline (idle) | | | |", " | "
    else:
        load = (f"{window['accepted_per_s']:,.1f} | {_cell(window['p50_ms'])} ms | {_cell(window['p99_ms'])} ms | "
                f"{window['errors']:,} |")
        cores = f"{sample['cores'].get('api', 0.0):.2f} | {sample['cores'].get('other', 0.0):.2f}"
    return (f"| {elapsed(sample['elapsed_s'])} | {load} {sample['raw_events']:,} | {memory} | "
            f"{sample['master_rss_mb']:.1f} | {postgres} | {cores} |")


def _curve(samples: list[dict]) -> list[str]:
    pids, shown = worker_pids(samples), curve_rows(samples)
    which = ("every sample" if len(shown) == len(samples) else
             f"{len(shown)} of {len(samples)} samples, evenly spaced, and the last (all of them in the JSON)")
    return [
        f"## The curve ({which})", "",
        "Memory in MB, USS / RSS per worker; accepted/s, p50, p99 and errors over the window that ends at the "
        "sample (the last one's include the drain), and the cores the API and the machine's other processes used "
        "in it.", "",
        "| elapsed | accepted/s | p50 | p99 | errors | raw.events | "
        + " | ".join(f"worker {p}" for p in pids) + " | master RSS | PostgreSQL RSS (sum) | API cores | other cores |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | " + "---: | " * len(pids) + "---: | ---: | ---: | ---: |",
        *(_curve_row(s, pids) for s in shown),
    ]


def markdown(result: dict) -> str:
    summary = result["summary"]
    return "\n".join([*_header(result), "", *_goals(summary["goals"]), "", *_workers(summary), "",
                      *_curve(result["samples"]), ""])
