"""The retention benchmark's figures: the daily job's time through Dagster, `monkeytown retention run`'s for a day
beside it in the same round, the archive-then-drop step's throughput, a day's size in Parquet against its size in
PostgreSQL, the players anonymized; medians over the rounds, paired differences within a round; and its Markdown
report."""

from __future__ import annotations

from bench.stats import median, paired_ratio

DAGSTER, RETENTION_RUN, ALONE = "dagster", "retention_run", "archive_then_drop"
ARCHIVE_STEP = "retention__archived_event_days"
MIB = 1024 * 1024


def _r(value: float, digits: int = 3) -> float:
    return round(value, digits)


def _game_day_run(step: dict) -> dict:
    [run] = [r for r in step["timed"]["archive_runs"] if r["label"].endswith(step["game_day"])]
    return run


def _other_runs(step: dict) -> list[dict]:
    return [r for r in step["timed"]["archive_runs"] if not r["label"].endswith(step["game_day"])]


def _daily_job(steps: list[dict]) -> dict:
    game = [_game_day_run(s) for s in steps]
    others = [r for s in steps for r in _other_runs(s)]
    rows = [s["postgres"]["rows"] for s in steps]
    walls = [s["timed"]["wall_s"] for s in steps]
    archive_steps = [run["steps"].get(ARCHIVE_STEP, float("nan")) for run in game]
    privacy_steps: dict[str, list[float]] = {}
    for s in steps:
        for step, seconds in s["timed"]["privacy_run"]["steps"].items():
            privacy_steps.setdefault(step, []).append(seconds)
    return {
        "wall_s": _r(median(walls)), "walls": walls, "rows": rows,
        "runs_per_day": median([1 + len(s["timed"]["archive_runs"]) for s in steps]),
        "game_day_archive_run_s": _r(median([r["wall_s"] for r in game])),
        "game_day_archive_step_s": _r(median(archive_steps)),
        "other_archive_run_s": _r(median([r["wall_s"] for r in others])) if others else None,
        "privacy_run_s": _r(median([s["timed"]["privacy_run"]["wall_s"] for s in steps])),
        "privacy_steps_s": {step: _r(median(seconds)) for step, seconds in privacy_steps.items()},
        "archive_step_rows_per_s": round(median([n / t for n, t in zip(rows, archive_steps, strict=True) if t])),
    }


def _overhead(rounds: list[dict]) -> dict:
    """Dagster's daily job against `monkeytown retention run`, each on its own day of the same round."""
    pairs = [({s["variant"]: s for s in r["steps"]}) for r in rounds]
    dagster = [p[DAGSTER]["timed"]["wall_s"] for p in pairs]
    direct = [p[RETENTION_RUN]["timed"]["wall_s"] for p in pairs]
    differences = [_r(d - x) for d, x in zip(dagster, direct, strict=True)]
    return {"dagster_s": dagster, "retention_run_s": direct, "differences_s": differences,
            "difference_s": _r(median(differences)), "ratio": _r(paired_ratio(dagster, direct), 2),
            "rows_dagster": [p[DAGSTER]["postgres"]["rows"] for p in pairs],
            "rows_retention_run": [p[RETENTION_RUN]["postgres"]["rows"] for p in pairs]}


def _archive(steps: list[dict]) -> dict:
    rates = [s["postgres"]["rows"] / s["timed"]["wall_s"] for s in steps if s["timed"]["wall_s"]]
    return {"rows_per_s": round(median(rates)), "rates": [round(x) for x in rates],
            "wall_s": _r(median([s["timed"]["wall_s"] for s in steps])),
            "rows": [s["postgres"]["rows"] for s in steps]}


def _sizes(steps: list[dict]) -> dict:
    def med(value) -> float:
        return median([value(s) for s in steps])

    def parquet(s: dict) -> int:
        return s["check"]["parquet_bytes"]

    return {
        "rows": round(med(lambda s: s["postgres"]["rows"])),
        "parquet_bytes": round(med(parquet)),
        "heap_bytes": round(med(lambda s: s["postgres"]["heap_bytes"])),
        "table_bytes": round(med(lambda s: s["postgres"]["table_bytes"])),
        "total_bytes": round(med(lambda s: s["postgres"]["total_bytes"])),
        "parquet_bytes_per_row": _r(med(lambda s: parquet(s) / s["postgres"]["rows"]), 1),
        "table_bytes_per_row": _r(med(lambda s: s["postgres"]["table_bytes"] / s["postgres"]["rows"]), 1),
        "heap_over_parquet": _r(med(lambda s: s["postgres"]["heap_bytes"] / parquet(s)), 1),
        "table_over_parquet": _r(med(lambda s: s["postgres"]["table_bytes"] / parquet(s)), 1),
        "total_over_parquet": _r(med(lambda s: s["postgres"]["total_bytes"] / parquet(s)), 1),
    }


def _anonymized(step: dict) -> int:
    if step["variant"] in (DAGSTER, RETENTION_RUN):
        return step["timed"]["players_anonymized"]
    return step["rest_untimed"]["players_anonymized"]


def _rows_anonymized(steps: list[dict]) -> dict[str, int]:
    """Rows the anonymization changed per table (median over the steps that report it: Dagster's runs do not)."""
    tables: dict[str, list[int]] = {}
    for s in steps:
        figures = s["timed"] if s["variant"] == RETENTION_RUN else s.get("rest_untimed", {})
        for table, rows in figures.get("rows_anonymized", {}).items():
            tables.setdefault(table, []).append(rows)
    return {table: round(median(rows)) for table, rows in tables.items()}


def _checks(steps: list[dict]) -> dict:
    failed = [f"step {s['step']} ({s['variant']}): " + ", ".join(
        problem for problem, bad in (("still in PostgreSQL", not s["check"]["dropped"]),
                                     ("archive does not verify", not s["check"]["archive_verified"]),
                                     (f"archive rows {s['check']['archive_rows']} vs {s['postgres']['rows']} in "
                                      "PostgreSQL", not s["check"]["rows_equal"]),
                                     (f"left expired: {s['check']['expired_left']}", bool(s["check"]["expired_left"])))
        if bad) for s in steps
        if not (s["check"]["dropped"] and s["check"]["rows_equal"] and not s["check"]["expired_left"])]
    return {"passed": not failed, "steps": len(steps), "failed": failed}


def summarize(raw: dict) -> dict:
    steps = [s for r in raw["rounds"] for s in r["steps"]]
    by = {v: [s for s in steps if s["variant"] == v] for v in (DAGSTER, RETENTION_RUN, ALONE)}
    return {
        "daily_job": _daily_job(by[DAGSTER]),
        "retention_run_s": _r(median([s["timed"]["wall_s"] for s in by[RETENTION_RUN]])),
        "overhead": _overhead(raw["rounds"]),
        "archive": _archive(by[ALONE]),
        "sizes": _sizes(steps),
        "players_anonymized": [_anonymized(s) for s in steps],
        "rows_anonymized": _rows_anonymized(steps),
        "other_load_cores": _r(median([s["timed"]["cores"].get("other", 0.0) for s in steps]), 2),
        "checks": _checks(steps),
    }


# --- Markdown ---------------------------------------------------------------------------------------------------


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f} s"


def _mib(n: int) -> str:
    return f"{n / MIB:.2f} MiB" if n >= MIB / 10 else f"{n / 1024:.0f} KiB"


def _header(result: dict) -> list[str]:
    m, d, s, p = result["machine"], result["data"], result["summary"], result["policy"]
    settings = ", ".join(f"{k}={v}" for k, v in sorted(m["postgresql_settings"].items()))
    by_type = ", ".join(f"{k} {v:,}" for k, v in sorted(d["events_by_type"].items(), key=lambda kv: -kv[1]))
    code = m.get("code") or {}
    changes = (f", with uncommitted changes in {', '.join(code['uncommitted'])}" if code.get("uncommitted")
               else "; orchestration/ as committed")
    return [
        f"# Retention benchmark, {result['started_at']} ({result['mode']}, {result['seconds']} s)", "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}; Python {m['python']}",
        f"- PostgreSQL {m['postgresql']}: {settings}",
        f"- {', '.join(f'{k} {v}' for k, v in m['packages'].items())}",
        f"- Code measured: commit {code.get('commit', 'unknown')}{changes}",
        f"- Load average at start: {', '.join(str(x) for x in m['load_average_at_start'])}; at the end: "
        f"{', '.join(str(x) for x in m.get('load_average_at_end', []))}; other processes used a median "
        f"{s['other_load_cores']} cores during the timed steps",
        f"- Data: {d['events']:,} events from {d['from']} to {d['to']} ({d['days']} days, about "
        f"{d['events_per_day']:,} a day: {by_type}), {d['ingest_errors']:,} raw.ingest_errors rows; generated "
        f"through the API's door and COPYed in {d['load_s']} s; marts built once by `dbt run` ({d['dbt_run_s']} s): "
        f"{d['marts']['moves']:,} moves, {d['marts']['games']:,} games, {d['marts']['players']:,} players",
        f"- Policy: game events {p['game_events_days']} days, system events {p['system_events_days']}, players "
        f"anonymized after {p['player_anonymize_days']} days inactive; archive: zstd Parquet in a local folder",
    ]


def _figures(s: dict, rounds: int) -> list[str]:
    j, o, a, z = s["daily_job"], s["overhead"], s["archive"], s["sizes"]
    other = f"{_s(j['other_archive_run_s'])}" if j["other_archive_run_s"] is not None else "none"
    return [
        f"## The figures ({rounds} rounds; medians)", "",
        "| figure | measured | per round / step |", "| --- | ---: | --- |",
        f"| **the daily job through Dagster** (archive runs + privacy and housekeeping run) | **{_s(j['wall_s'])}** "
        f"| {', '.join(f'{w:.2f}' for w in j['walls'])} s for {', '.join(f'{n:,}' for n in j['rows'])} rows |",
        f"| of which the game-event day's `archive_expired_days` run | {_s(j['game_day_archive_run_s'])} | "
        f"its asset step {_s(j['game_day_archive_step_s'])} |",
        f"| of which the system-event day's `archive_expired_days` run | {other} | |",
        f"| of which `player_privacy_and_housekeeping` | {_s(j['privacy_run_s'])} | steps: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in j["privacy_steps_s"].items()) + " |",
        f"| `monkeytown retention run` (`apply_retention_policy`) for a day | {_s(s['retention_run_s'])} | "
        f"{', '.join(f'{w:.2f}' for w in o['retention_run_s'])} s for "
        f"{', '.join(f'{n:,}' for n in o['rows_retention_run'])} rows |",
        f"| Dagster's overhead: daily job - retention run, same round | {_s(o['difference_s'])} "
        f"({o['ratio']}x) | {', '.join(f'{x:+.2f}' for x in o['differences_s'])} s |",
        f"| **archive throughput**: archive-then-drop of the game-event day alone | **{a['rows_per_s']:,} rows/s** "
        f"({_s(a['wall_s'])}) | {', '.join(f'{x:,}' for x in a['rates'])} rows/s for "
        f"{', '.join(f'{n:,}' for n in a['rows'])} rows |",
        f"| the same inside Dagster's archive step | {j['archive_step_rows_per_s']:,} rows/s | |",
        f"| **a day in Parquet** vs in PostgreSQL (median day: {z['rows']:,} rows) | **{_mib(z['parquet_bytes'])}** "
        f"({z['parquet_bytes_per_row']} bytes a row) | heap {_mib(z['heap_bytes'])} ({z['heap_over_parquet']}x), "
        f"heap and TOAST {_mib(z['table_bytes'])} ({z['table_over_parquet']}x, {z['table_bytes_per_row']} bytes a "
        f"row), with indexes {_mib(z['total_bytes'])} ({z['total_over_parquet']}x) |",
        f"| players anonymized a day (inactive 90 days) | {round(median(s['players_anonymized'])):,} | "
        f"{', '.join(str(n) for n in s['players_anonymized'])} |",
        "| rows their anonymization changed (median) | | "
        + (", ".join(f"{table} {rows:,}" for table, rows in s["rows_anonymized"].items()) or "none") + " |",
    ]


def _steps_table(raw: dict) -> list[str]:
    rows = ["## Every step", "",
            "| step | round | as of | way | game-event day | rows | timed | anonymized | PostgreSQL (table / total) "
            "| Parquet | dropped, archive verified, rows equal |",
            "| ---: | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in raw["rounds"]:
        for s in r["steps"]:
            p, c = s["postgres"], s["check"]
            ok = "yes" if c["dropped"] and c["archive_verified"] and c["rows_equal"] and not c["expired_left"] \
                else "**NO**"
            rows.append(f"| {s['step']} | {r['round']} | {s['as_of']} | {s['variant']} | {s['game_day']} | "
                        f"{p['rows']:,} | {_s(s['timed']['wall_s'])} | {_anonymized(s)} | "
                        f"{_mib(p['table_bytes'])} / {_mib(p['total_bytes'])} | {_mib(c['parquet_bytes'])} | {ok} |")
    return rows


def _notes(result: dict) -> list[str]:
    raw = result["raw"]
    checks = result["summary"]["checks"]
    verdict = (f"every one of the {checks['steps']} steps dropped its game-event day, and its archive verified "
               "with the rows PostgreSQL held" if checks["passed"] else
               "**FAILED**: " + "; ".join(checks["failed"]))
    return [
        "## How", "",
        "Each round runs three consecutive days, each way first in turn: `dagster` (the daily schedule's "
        "`archive_expired_days` runs, one per partition holding a family day past its retention, then "
        "`player_privacy_and_housekeeping`, executed in process on one ephemeral instance; the definitions are "
        "loaded before the clock), `retention_run` (`apply_retention_policy` as of the day), and "
        "`archive_then_drop` (the game-event day's step alone; the rest of the policy then untimed). Each timed "
        "piece starts after a CHECKPOINT"
        + ("" if raw["checkpoints"] else " (refused to this role, so the figures carry that noise)") + ". "
        f"Before the first step, what was already past its retention was archived untimed: "
        f"{len(raw['catch_up']['family_days'])} family days by `apply_retention_policy` "
        f"({raw['catch_up']['wall_s']:.1f} s), then those of the day before the first step's by the Dagster jobs, "
        f"their first runs in this process ({raw['warm_up']['wall_s']:.2f} s). Not in the "
        f"Dagster walls: importing orchestration.definitions ({raw['definitions_import_s']:.2f} s in a fresh "
        "process), which each run the daemon launches pays in its own process.", "",
        f"Check: {verdict}.",
    ]


def markdown(result: dict) -> str:
    return "\n".join([*_header(result), "", *_figures(result["summary"], result["plan"]["rounds"]), "",
                      *_steps_table(result["raw"]), "", *_notes(result), ""])
