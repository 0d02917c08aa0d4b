"""The growth benchmark's figures: per size the medians over rounds, the ingest path at the largest size against
the smallest judged against a stated tolerance, the guard (the table only grew, every posted row stored); and its
Markdown report."""

from __future__ import annotations

import math

from bench.stats import median
from bench.summary import _median_cpu_ms

#: The ingest path counts as slowed when the largest size's figure is worse than the smallest's by more than this
#: share (batch rows/s below 75% of it, p99 above 125%): less is within the spread of rounds on a shared 2-core box.
SLOWDOWN_TOLERANCE = 0.25
#: The Dagster steps named in "where the time goes", slowest first.
TOP_STEPS = 4


def _r(value: float, digits: int = 3) -> float:
    return round(value, digits) if math.isfinite(value) else value


def _ingest(step: dict) -> dict:
    batches, singles = step["ingest"]["batch"], step["ingest"]["open_loop"]
    return {
        "batch_rows_per_s": round(median([b["rows_per_s"] for b in batches])),
        "batch_rounds": [b["rows_per_s"] for b in batches],
        "batch_cpu_ms_per_1k_rows": {"api": _median_cpu_ms(batches, "api", "rows_per_s", 1000),
                                     "postgres": _median_cpu_ms(batches, "postgres", "rows_per_s", 1000)},
        "batch_wal_bytes_per_row": round(median([b["wal_bytes"] / b["rows"] for b in batches])),
        "batch_rows": sum(b["rows"] for b in batches), "batch_rows_stored": sum(b["rows_stored"] for b in batches),
        "p99_ms": median([s["latency_ms"].get("p99", math.inf) for s in singles]),
        "p99_rounds": [s["latency_ms"].get("p99", math.inf) for s in singles],
        "p50_ms": median([s["latency_ms"].get("p50", math.inf) for s in singles]),
        "achieved_per_s": round(median([s["achieved_per_s"] for s in singles])),
        "errors": sum(s["errors"] for s in singles), "sent": sum(s["sent"] for s in singles),
        "singles_accepted": sum(s["ok"] for s in singles),
        "singles_stored": sum(s["rows_stored"] for s in singles),
        "single_wal_bytes_per_event": round(median([s["wal_bytes"] / max(s["ok"], 1) for s in singles])),
        "events_per_commit": _r(median([s["ok"] / s["commits"] if s["commits"] else 0 for s in singles]), 2),
        "api_cores": _r(median([s["cores"].get("api", 0.0) for s in singles]), 3),
    }


def _core_run(rounds: list[dict]) -> dict:
    dagster = [r["dagster"] for r in rounds]
    ran = [d for d in dagster if "error" not in d]
    direct = [r["direct_core_build"] for r in rounds]
    steps: dict[str, list[float]] = {}
    for d in ran:
        for name, seconds in d["steps"].items():
            steps.setdefault(name, []).append(seconds)
    slowest = sorted(((name, median(values)) for name, values in steps.items()), key=lambda s: -s[1])
    return {
        "dagster_wall_s": _r(median([d["wall_s"] for d in ran])), "dagster_walls": [d["wall_s"] for d in ran],
        "dagster_dbt_elapsed_s": _r(median([d["elapsed_s"] for d in ran])),
        "direct_wall_s": _r(median([d["wall_s"] for d in direct])), "direct_walls": [d["wall_s"] for d in direct],
        "direct_models_s": _r(median([d.get("models", 0.0) for d in direct])),
        "direct_tests_s": _r(median([d.get("tests", 0.0) for d in direct])),
        "overhead_s": _r(median([r["dagster"]["wall_s"] - r["direct_core_build"]["wall_s"] for r in rounds
                                 if "error" not in r["dagster"]])),
        "hour_events": round(median([r[side]["hour"]["events"] for r in rounds
                                     for side in ("dagster", "direct_core_build")])),
        "slowest_steps": {name: _r(seconds) for name, seconds in slowest[:TOP_STEPS]},
        "errors": [d["error"] for d in dagster if "error" in d],
    }


def _slowest_statement(statements: dict) -> dict:
    name = max(statements, key=lambda n: statements[n]["execution_ms"])
    return {"name": name, **statements[name]}


def _size(step: dict) -> dict:
    table = step["table"]
    return {"target": step["size"], **table, **_ingest(step), "core_run": _core_run(step["incremental"]),
            "dashboard": _slowest_statement(step["statements"]),
            "statements_ms": {name: c["execution_ms"] for name, c in step["statements"].items()}}


def _guard(steps: list[dict], sizes: list[dict]) -> dict:
    """The table only grew (no round emptied it) and every row posted through the API is in raw.events."""
    problems = []
    previous = 0
    for step, size in zip(steps, sizes, strict=True):
        before, after = step["table"]["events_rows"], step["table_after"]["events_rows"]
        posted = size["batch_rows_stored"] + size["singles_stored"]
        if before < previous or after < before + posted:
            problems.append(f"raw.events went from {previous:,} to {before:,} and {after:,} rows at size "
                            f"{step['size']:,} ({posted:,} posted)")
        if size["batch_rows_stored"] != size["batch_rows"]:
            problems.append(f"{size['batch_rows_stored']:,} of {size['batch_rows']:,} batch rows stored at size "
                            f"{step['size']:,}")
        if size["singles_stored"] < size["singles_accepted"]:
            problems.append(f"{size['singles_stored']:,} of {size['singles_accepted']:,} accepted single events "
                            f"stored at size {step['size']:,}")
        previous = after
    return {"passed": not problems, "detail": "; ".join(problems) or "the table only grew; every posted row stored"}


def _goals(sizes: list[dict]) -> list[dict]:
    first, last = sizes[0], sizes[-1]
    compared = len(sizes) > 1
    batch = last["batch_rows_per_s"] / first["batch_rows_per_s"] if first["batch_rows_per_s"] else math.nan
    p99 = last["p99_ms"] / first["p99_ms"] if first["p99_ms"] else math.nan
    batch_met = compared and batch >= 1 - SLOWDOWN_TOLERANCE
    p99_met = compared and p99 <= 1 + SLOWDOWN_TOLERANCE
    span = f"{last['events_rows']:,} vs {first['events_rows']:,} events"
    status = (lambda met: "met" if met else "MISSED") if compared else (lambda met: "not judged (one size)")
    return [
        {"goal": "batch rows/s through the API as the table grows", "target":
         f">= {1 - SLOWDOWN_TOLERANCE:.0%} of the smallest size's", "ratio": _r(batch, 3),
         "measured": f"{batch:.0%}: {last['batch_rows_per_s']:,} vs {first['batch_rows_per_s']:,} rows/s ({span})",
         "status": status(batch_met)},
        {"goal": "single-event p99 at 500/s offered as the table grows", "target":
         f"<= {1 + SLOWDOWN_TOLERANCE:.0%} of the smallest size's", "ratio": _r(p99, 3),
         "measured": f"{p99:.0%}: {last['p99_ms']} vs {first['p99_ms']} ms ({span})", "status": status(p99_met)},
        {"goal": "ingest path does not slow as the table grows", "target": "both rows above",
         "ratio": None, "measured": f"batch {batch:.0%}, p99 {p99:.0%} of the smallest size's",
         "status": status(batch_met and p99_met)},
    ]


def summarize(raw: dict) -> dict:
    sizes = [_size(step) for step in raw["steps"]]
    return {"sizes": sizes, "goals": _goals(sizes), "guard": _guard(raw["steps"], sizes),
            "tolerance": SLOWDOWN_TOLERANCE}


# --- Markdown ---------------------------------------------------------------------------------------------------


def _mb(value: int) -> str:
    return f"{value / 1e6:,.0f} MB" if value >= 1e7 else f"{value / 1e6:,.1f} MB"


def _row(label: str, cells: list[str], change: str = "") -> str:
    return f"| {label} | {' | '.join(cells)} | {change} |"


def _change(first: float, last: float) -> str:
    return f"{last / first:.2f}x" if first and math.isfinite(first) and math.isfinite(last) else ""


def _list(values: list) -> str:
    return ", ".join(str(value) for value in values)


def _table(sizes: list[dict]) -> list[str]:
    def each(pick) -> list[str]:
        return [pick(s) for s in sizes]

    def figure(label: str, key, text) -> str:
        first, last = key(sizes[0]), key(sizes[-1])
        return _row(label, each(lambda s: text(s)), _change(first, last))

    head = "| | " + " | ".join(f"{s['events_rows']:,} events" for s in sizes) + " | largest / smallest |"
    return [
        head, "| --- | " + "---: | " * len(sizes) + "---: |",
        figure("raw.events: size (heap, TOAST, indexes; leaf partitions)", lambda s: s["events_bytes"],
               lambda s: f"{_mb(s['events_bytes'])} ({s['leaf_partitions']})"),
        figure("raw.event_ids (the id ledger): rows, size (its index)", lambda s: s["ledger_bytes"],
               lambda s: f"{s['ledger_rows']:,}, {_mb(s['ledger_bytes'])} ({_mb(s['ledger_index_bytes'])})"),
        figure("**(a) batch rows/s**, POST /api/events, 500 a request, 4 connections (rounds)",
               lambda s: s["batch_rows_per_s"],
               lambda s: f"**{s['batch_rows_per_s']:,}** ({', '.join(f'{x:,}' for x in s['batch_rounds'])})"),
        figure("(a) CPU ms per 1k rows: API, PostgreSQL", lambda s: s["batch_cpu_ms_per_1k_rows"]["postgres"],
               lambda s: f"{s['batch_cpu_ms_per_1k_rows']['api']}, {s['batch_cpu_ms_per_1k_rows']['postgres']}"),
        figure("(a) WAL bytes per row", lambda s: s["batch_wal_bytes_per_row"],
               lambda s: f"{s['batch_wal_bytes_per_row']:,}"),
        figure("**(b) single-event p99 at 500/s offered**, open loop (rounds)", lambda s: s["p99_ms"],
               lambda s: f"**{s['p99_ms']} ms** ({', '.join(str(x) for x in s['p99_rounds'])})"),
        figure("(b) p50; achieved/s; errors", lambda s: s["p50_ms"],
               lambda s: f"{s['p50_ms']} ms; {s['achieved_per_s']:,}/s; {s['errors']:,} of {s['sent']:,}"),
        figure("(b) events per commit; WAL bytes per event", lambda s: s["single_wal_bytes_per_event"],
               lambda s: f"{s['events_per_commit']}; {s['single_wal_bytes_per_event']:,}"),
        figure("**(c) Dagster refresh_core_models, one hour** (rounds)", lambda s: s["core_run"]["dagster_wall_s"],
               lambda s: f"**{s['core_run']['dagster_wall_s']} s** ({_list(s['core_run']['dagster_walls'])})"),
        figure("(c) the same selection as a direct `dbt build`, one hour (rounds)",
               lambda s: s["core_run"]["direct_wall_s"],
               lambda s: f"{s['core_run']['direct_wall_s']} s ({_list(s['core_run']['direct_walls'])})"),
        figure("(c) events in an hour landed", lambda s: s["core_run"]["hour_events"],
               lambda s: f"{s['core_run']['hour_events']:,}"),
        figure("**(d) largest dashboard statement** (EXPLAIN ANALYZE, best of 5)",
               lambda s: s["dashboard"]["execution_ms"],
               lambda s: f"**{s['dashboard']['execution_ms']} ms** `{s['dashboard']['name']}.sql`"),
    ]


def _statements(sizes: list[dict]) -> list[str]:
    names = list(sizes[0]["statements_ms"])
    rows = ["| statement | " + " | ".join(f"{s['events_rows']:,}" for s in sizes) + " |",
            "| --- | " + "---: | " * len(sizes)]
    return rows + [f"| `{name}.sql` | " + " | ".join(str(s["statements_ms"].get(name, "")) for s in sizes) + " |"
                   for name in names]


def _where(sizes: list[dict]) -> list[str]:
    lines = []
    for s in sizes:
        core = s["core_run"]
        steps = ", ".join(f"{name} {seconds} s" for name, seconds in core["slowest_steps"].items())
        fits = "fits in" if s["ledger_index_bytes"] <= s["shared_buffers_bytes"] else "exceeds"
        lines.append(
            f"- **{s['events_rows']:,} events**: the ledger's index ({_mb(s['ledger_index_bytes'])}) {fits} "
            f"shared_buffers ({_mb(s['shared_buffers_bytes'])}); a batch row costs the API "
            f"{s['batch_cpu_ms_per_1k_rows']['api']} and PostgreSQL {s['batch_cpu_ms_per_1k_rows']['postgres']} ms "
            f"of CPU per 1k and writes {s['batch_wal_bytes_per_row']:,} WAL bytes; the core run's slowest Dagster "
            f"steps: {steps or 'none measured'} (dbt inside it {core['dagster_dbt_elapsed_s']} s; Dagster over the "
            f"direct build {core['overhead_s']} s; the direct build's models {core['direct_models_s']} s, tests "
            f"{core['direct_tests_s']} s)" + (f"; Dagster errors: {'; '.join(core['errors'])}" if core["errors"]
                                                else ""))
    return lines


def markdown(result: dict) -> str:
    m, s, plan = result["machine"], result["summary"], result["plan"]
    code = m.get("code", {})
    settings = ", ".join(f"{k}={v}" for k, v in sorted(m["postgresql_settings"].items()))
    guard = s["guard"]
    lines = [
        f"# Growth benchmark, {result['started_at']} ({result['seconds']} s)", "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}; Python "
        f"{m['python']}; PostgreSQL {m['postgresql']} ({settings}); gunicorn {m['gunicorn']}",
        f"- Commit {code.get('commit', 'unknown')}" + (f", uncommitted: {', '.join(code['uncommitted'])}"
                                                       if code.get("uncommitted") else ""),
        f"- Load average at start: {', '.join(str(x) for x in m['load_average_at_start'])}",
        f"- One database grown to {', '.join(f'{x:,}' for x in plan['sizes'])} events (the month's traffic of "
        f"bench/traffic.py over {plan['days']} days, COPYed, a seed of its own per step), never truncated; at each "
        f"size {plan['rounds']} round(s) of: {plan['batch_rows']:,} events in batches of 500 over "
        f"{plan['batch_connections']} connections; single events at {plan['open_rate']}/s for "
        f"{plan['open_seconds']:g} s over {plan['open_connections']} connections (open loop, latency from the "
        "scheduled send); every event timestamped now with a random event_id. Then the marts rebuilt (untimed), "
        "an hour of traffic at the size's rate landed before each of: the Dagster job refresh_core_models, the same "
        "selection as one `dbt build`; then EXPLAIN ANALYZE of every dashboard statement. Medians over rounds.", "",
        "## Goal (issue 13: nothing on the ingest path slows down as the table grows)", "",
        "| goal | target | measured | status |", "| --- | --- | --- | --- |",
        *(f"| {g['goal']} | {g['target']} | {g['measured']} | **{g['status']}** |" for g in s["goals"]),
        f"| guard: the table only grew, every posted row stored | passed | {guard['detail']} | "
        f"**{'passed' if guard['passed'] else 'FAILED'}** |", "",
        f"Tolerance: SLOWDOWN_TOLERANCE = {s['tolerance']:.0%} (bench/growth_report.py), largest size against the "
        "smallest.", "",
        "## How cost grows", "", *_table(s["sizes"]), "",
        "## Every dashboard statement (execution ms, EXPLAIN ANALYZE best of 5)", "", *_statements(s["sizes"]), "",
        "## Where the time goes", "", *_where(s["sizes"]), "",
    ]
    return "\n".join(lines)
