"""The benchmark's reports: the whole result as JSON, and a Markdown summary (also printed)."""

from __future__ import annotations

from pathlib import Path

import orjson


def _pct(values: list[float]) -> str:
    return ", ".join(f"{x:.0%}" for x in values)


def _servers(servers: dict) -> str:
    workers, threads = servers["workers"], servers["threads"]
    return (f"- Hello-world servers (bench/hello_app.py), each with {workers} workers: gunicorn sync (1 thread), "
            f"gthread ({threads} threads), gevent; granian {servers['granian']} (WSGI). The API: gunicorn "
            f"{servers['api_worker_class']}")


def _header(result: dict) -> list[str]:
    m, s = result["machine"], result["summary"]
    settings = ", ".join(f"{k}={v}" for k, v in sorted(m["postgresql_settings"].items()))
    return [
        f"# Ingest benchmark, {result['started_at']} ({result['mode']}, {result['seconds']} s)", "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}",
        f"- Python {m['python']}, PostgreSQL {m['postgresql']}, gunicorn {m['gunicorn']}",
        *([_servers(result["servers"])] if "servers" in result else []),
        f"- PostgreSQL settings: {settings}",
        f"- Load average at start: {', '.join(str(x) for x in m['load_average_at_start'])}; other processes "
        f"used a median {s['other_load_cores']} cores during the measurements",
        f"- The load generator used at most {s['client_cpu_cores_max']} of a core",
    ]


def _held(held: bool) -> str:
    return "**yes**" if held else "no"


def _goals(goals: list[dict]) -> list[str]:
    rows = ["## Goals (QUALITY.md)", "", "| goal | target | measured | status |", "| --- | --- | --- | --- |"]
    for g in goals:
        note = f" ({g['note']})" if g["note"] else ""
        rows.append(f"| {g['goal']} | {g['target']} | {g['measured']} | **{g['status']}**{note} |")
    return rows


def _batch(b: dict, plan: dict) -> list[str]:
    cpu, wal = b["cpu_ms_per_1k_rows"], b["wal_bytes_per_row"]
    rows = [
        f"## 1. Batch path vs raw COPY ({plan['rounds']} rounds of {plan['batch_rows']:,} rows, 500 a "
        "transaction, medians)", "",
        "| path | rows/s | CPU ms per 1k rows | WAL bytes per row |", "| --- | ---: | --- | ---: |",
        f"| raw psycopg COPY into raw.events, 1 connection | {b['copy_rows_per_s']:,} | "
        f"postgres {cpu['copy_postgres']}, client {cpu['copy_client']} | {wal['copy']} |",
        f"| POST /api/events, 500 a request, {b['http_connections']} connections | "
        f"{b['http_rows_per_s']:,} | "
        f"API {cpu['http_api']}, postgres {cpu['http_postgres']} | {wal['http']} |",
        f"| ratio (median of paired rounds) | {b['ratio']:.1%} | lowest round {b['min_ratio']:.1%} | |", "",
        "| round | order | COPY rows/s | HTTP rows/s | ratio | API worker cores | one worker held every "
        "connection |", "| ---: | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for i, r in enumerate(b["rounds"], 1):
        rows.append(f"| {i} | {', '.join(r['order'])} | {r['copy_rows_per_s']:,} | {r['http_rows_per_s']:,} | "
                    f"{r['ratio']:.1%} | {_cores(r['api_worker_cores'])} | {_held(r['one_worker_held_all'])} |")
    return [*rows, "", (
        f"In {b['one_worker_rounds']} of {len(b['rounds'])} rounds gunicorn gave every connection to one worker "
        "(the other used under 5% of the workers' CPU; one GIL, at most one core); "
        + (f"the median ratio of the rounds that used every worker: {b['ratio_both_workers']:.1%}"
           if b["ratio_both_workers"] is not None else "no round used every worker"))]


def _cores(workers: list[float]) -> str:
    return " + ".join(f"{w:.2f}" for w in workers) or "none"


def _open_loop(o: dict, plan: dict) -> list[str]:
    rows = [
        f"## 2. Single events, open loop ({plan['open_seconds']:g} s per rate, "
        f"{plan['open_rounds']} round(s), {plan['open_connections']} connections, latency from the scheduled "
        "send time)", "",
        "| offered | achieved | p50 | p99 | worst p99 | errors | events/commit | send lag p99 | API cores |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rate, r in o.items():
        rows.append(
            f"| {int(rate):,}/s | {r['achieved_per_s']:,}/s | {r['p50_ms']:,.1f} ms | "
            f"{r['p99_ms']:,.1f} ms | "
            f"{r['worst_p99_ms']:,.1f} ms | {r['errors']:,} of {r['sent']:,} | {r['events_per_commit']} | "
            f"{r['send_lag_p99_ms']:,.1f} ms | {r['api_cores']} |")
    return rows


def _hello_label(name: str, servers: dict) -> str:
    if name == "granian":
        return "granian WSGI"
    threads = {"sync": "1 thread", "gthread": f"{servers.get('threads', '?')} threads"}.get(name)
    own = " (the API's worker class)" if name == servers.get("api_worker_class") else ""
    return f"gunicorn {name}" + (f" ({threads})" if threads else "") + own


def _server_row(label: str, figures: dict, cpu: str, best_in: str) -> str:
    return (f"| {label} | {figures['per_s']:,} | {figures['p99_ms']:,.1f} ms | {cpu} | {figures['cores']} | "
            f"{figures['reconnects_per_request']} | {figures['errors']:,} | {best_in} |")


def _closed_rounds(c: dict, names: list[str]) -> list[str]:
    rows = [f"| round | order | API | {' | '.join(names)} | best | ratio | API worker cores | one worker held "
            "every connection |", "| ---: | --- | ---: | " + "---: | " * len(names) + "--- | ---: | --- | --- |"]
    for i, r in enumerate(c["rounds"], 1):
        hellos = " | ".join(f"{r['hello_per_s'][name]:,}" for name in names)
        rows.append(f"| {i} | {', '.join(r['order'])} | {r['api_per_s']:,} | {hellos} | {r['best_hello']} | "
                    f"{r['ratio']:.1%} | {_cores(r['api_worker_cores'])} | {_held(r['one_worker_held_all'])} |")
    return rows


def _closed_loop(c: dict, plan: dict, servers: dict) -> list[str]:
    cpu, names = c["cpu_ms_per_request"], list(c["hello"])
    return [
        f"## 3. Max single-event throughput, closed loop ({plan['closed_connections']} connections, "
        f"{plan['closed_seconds']:g} s, {plan['rounds']} rounds, medians)", "",
        "| server | req/s | p99 | CPU ms per request | server cores | reconnects per request | errors | "
        "best in rounds |", "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
        _server_row("API (durable: answered after commit)", c["api"],
                    f"API {cpu['api']}, postgres {cpu['api_postgres']}, client {cpu['client']}", ""),
        *(_server_row(f"hello-world, {_hello_label(name, servers)}", c["hello"][name],
                      str(c["hello"][name]["cpu_ms_per_request"]), f"{c['best_in_rounds'][name]} of {plan['rounds']}")
          for name in names),
        f"| API vs the best hello-world of each round (median) | {c['ratio']:.1%} | rounds: {_pct(c['ratios'])} "
        "| | | | | |", "",
        f"Best hello-world: {_hello_label(c['best_hello'], servers)}, {c['best_hello_per_s']:,} req/s (the highest "
        f"median). Events per commit: {c['events_per_commit']}; machine busy during the API runs: "
        f"{c['machine_busy_cores']} cores.", "",
        *_closed_rounds(c, names), "",
        "Hello-world rounds where one worker held every connection: "
        + ", ".join(f"{name} {c['hello'][name]['one_worker_rounds']}" for name in names)
        + ". gunicorn's sync worker answers every request with `Connection: close`: the load generator opens a new "
        "connection for each request (reconnects per request 1.0), and the connections waiting for a worker "
        "sit in the listen backlog.",
    ]


def markdown(result: dict) -> str:
    s, plan = result["summary"], result["plan"]
    samples = ", ".join(f"{x:,}" for x in result["rounds"]["fsync_per_s"])
    return "\n".join([
        *_header(result), "", *_goals(s["goals"]), "", *_batch(s["batch"], plan), "",
        *_open_loop(s["open_loop"], plan), "",
        *_closed_loop(s["closed_loop"], plan, result.get("servers", {})), "",
        "## 4. Disk flushes", "",
        f"{s['fsync_per_s']:,} fsyncs/s (median of {samples}; 8 KiB write + fdatasync, in the database's "
        "filesystem)", "",
    ])


def write_reports(result: dict, text: str, directory: Path, name: str = "ingest") -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = result["started_at"].replace(":", "").replace("-", "").replace("+0000", "Z")
    json_path, md_path = directory / f"{name}-{stamp}.json", directory / f"{name}-{stamp}.md"
    json_path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    md_path.write_text(text + "\n", encoding="utf-8")
    return json_path, md_path
