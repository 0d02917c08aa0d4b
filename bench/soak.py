"""`python -m bench.soak [--minutes 60] [--rate 500] [--sample-seconds 30]`: the API workers' memory over a long
run of single events (issue 13: flat over a one-hour soak at 500 events/s), with the curve in a JSON and a Markdown
report, bench/results/soak-<UTC time>.json and .md.

The database and the API as the ingest benchmark starts them (bench/stack.py, without the hello-worlds) and its
warm-up; then realistic single events (POST /api/events, unique ids, made as they fall due) open loop at --rate on 32
keep-alive connections for --minutes, latency from each event's scheduled send time (bench/loadgen.py). At the end of
every window of --sample-seconds: that window's accepted rate, p50/p99 and errors, each API worker's RSS and USS
(every process of gunicorn's tree but the master), the master's RSS, PostgreSQL's, the cores each used, and the rows
in raw.events. bench/soak_report.py judges the curve and writes the Markdown."""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil
import psycopg

from bench import cpu, events, loadgen
from bench.ingest import warm_up
from bench.machine import code_version, describe
from bench.report import write_reports
from bench.soak_report import elapsed, markdown, summarize
from bench.stack import HOST, WRITE_KEY, Stack, running_stack

RESULTS_DIR = Path(__file__).resolve().parent / "results"
MIB = 2**20
#: Events made at a time: two games, timestamped as they are made; a fraction of a millisecond of the sender's loop.
CHUNK_EVENTS = 2 * events.EVENTS_PER_GAME
#: Where a change moves the figures: the commit is reported with any uncommitted change under these.
CODE_PATHS = ("ingest_api", "monkeytown", "bench")


@dataclass(frozen=True)
class SoakPlan:
    minutes: float = 60.0
    rate: int = 500
    sample_seconds: float = 30.0
    connections: int = 32

    @property
    def windows(self) -> int:
        return round(self.minutes * 60 / self.sample_seconds)


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def soak_requests(port: int, tag: str = "soak") -> Iterator[bytes]:
    """Endless single-event requests, a couple of games at a time, every event id unique."""
    for chunk in itertools.count():
        yield from events.single_requests(CHUNK_EVENTS, f"{tag}{chunk}", HOST, port, WRITE_KEY)


def accepted(status: int, body: bytes) -> bool:
    return status == 200 and b'"accepted"' in body


def _mb(size: int) -> float:
    # to 10 kB: a small worker's growth over an hour can be a fraction of a MB
    return round(size / MIB, 2)


def api_memory(master_pid: int) -> dict:
    """The master's RSS, and RSS and USS of every other process of its tree (the workers), by pid."""
    master = psutil.Process(master_pid)
    workers = []
    for process in master.children(recursive=True):
        try:
            info = process.memory_full_info()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):  # a worker that exited meanwhile
            continue
        workers.append({"pid": process.pid, "rss_mb": _mb(info.rss), "uss_mb": _mb(info.uss)})
    return {"master_rss_mb": _mb(master.memory_info().rss), "workers": sorted(workers, key=lambda w: w["pid"])}


def postgres_memory(postmaster_pid: int | None) -> dict | None:
    """RSS and USS summed over PostgreSQL's processes (RSS counts shared buffers once per process touching them)."""
    if postmaster_pid is None:
        return None
    postmaster = psutil.Process(postmaster_pid)
    rss = uss = 0
    processes = [postmaster, *postmaster.children(recursive=True)]
    for process in processes:
        try:
            info = process.memory_full_info()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):  # a backend that ended meanwhile
            continue
        rss, uss = rss + info.rss, uss + info.uss
    return {"rss_mb": _mb(rss), "uss_mb": _mb(uss), "processes": len(processes)}


def raw_events(url: str) -> int:
    with psycopg.connect(url, connect_timeout=10) as conn:
        return conn.execute("SELECT count(*) FROM raw.events").fetchone()[0]


def _window_figures(window: dict) -> dict:
    latency = window["latency_ms"]
    return {"seconds": round(window["seconds"], 2), "accepted_per_s": round(window["achieved_per_s"], 1),
            "answered": window["answered"], "ok": window["ok"], "errors": window["errors"],
            "statuses": window["statuses"],
            "p50_ms": latency.get("p50"), "p99_ms": latency.get("p99"), "max_ms": latency.get("max"),
            "send_lag_p99_ms": window["send_lag_ms"].get("p99"), "backlog": window["backlog"]}


class Sampler:
    """Takes a sample at each window's end: the window's figures, memory, cores since the last sample, rows."""

    def __init__(self, stack: Stack, plan: SoakPlan):
        self.stack, self.plan = stack, plan
        self.postmaster = stack.postgres_pid()
        self.roots = stack.cpu_roots()
        self.samples: list[dict] = []
        self.last_cpu = cpu.snapshot(self.roots)

    def _cores(self) -> dict:
        now = cpu.snapshot(self.roots)
        used = cpu.usage(self.last_cpu, now, ("api",))
        self.last_cpu = now
        return used

    def take(self, window: dict | None) -> dict:
        """A sample after `window` (None: the baseline, warmed up and idle, before the load starts)."""
        at_s = 0.0 if window is None else (window["window"] + 1) * self.plan.sample_seconds
        sample = {"elapsed_s": at_s, "at": datetime.now(UTC).isoformat(timespec="seconds"),
                  "window": None if window is None else _window_figures(window),
                  **api_memory(self.stack.api.process.pid), "postgres": postgres_memory(self.postmaster),
                  "cores": self._cores(), "raw_events": raw_events(self.stack.database_url)}
        self.samples.append(sample)
        self._tell(sample)
        return sample

    def _tell(self, sample: dict) -> None:
        total = self.plan.windows * self.plan.sample_seconds
        uss = ", ".join(f"{w['uss_mb']:.1f}" for w in sample["workers"])
        load = ("baseline (warmed up, idle)" if sample["window"] is None else
                f"{sample['window']['accepted_per_s']:.0f}/s accepted, p99 {sample['window']['p99_ms']} ms, "
                f"{sample['window']['errors']} errors")
        _progress(f"{elapsed(sample['elapsed_s'])}/{elapsed(total)}: {load}; workers' USS {uss} MB; "
                  f"raw.events {sample['raw_events']:,}")


def soak(stack: Stack, plan: SoakPlan) -> tuple[list[dict], dict]:
    """The samples (the baseline first) and the load generator's totals."""
    sampler = Sampler(stack, plan)
    sampler.take(None)
    port = stack.api.port
    load = loadgen.in_child_reporting(
        loadgen.open_loop_windows, sampler.take, (HOST, port), soak_requests(port), plan.rate, plan.connections,
        accepted, plan.sample_seconds, plan.windows)
    return sampler.samples, load


def run(plan: SoakPlan, keep_home: bool = False) -> dict:
    started = datetime.now(UTC)
    code = code_version(*CODE_PATHS)
    _progress("starting PostgreSQL and the API")
    with running_stack(keep_home, hellos=False) as stack:
        if keep_home:
            _progress(f"MONKEYTOWN_HOME (kept): {stack.home}")
        machine = describe(stack.database_url, stack.embedded)
        _progress("warming up the API (batches, then single events; raw tables emptied after)")
        warm_up(stack)
        _progress(f"soak: {plan.rate}/s for {plan.minutes:g} min, a sample every {plan.sample_seconds:g} s")
        samples, load = soak(stack, plan)
        rows = raw_events(stack.database_url)
    machine["load_average_at_end"] = [round(x, 2) for x in psutil.getloadavg()]
    return {"benchmark": "soak", "started_at": started.isoformat(timespec="seconds"),
            "seconds": round((datetime.now(UTC) - started).total_seconds()), "machine": machine, "code": code,
            "plan": asdict(plan), "load": {**load, "rows_stored": rows}, "samples": samples,
            "summary": summarize(samples, load, rows, plan.windows * plan.sample_seconds)}


def _stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=SoakPlan.minutes, help="length of the soak (default 60)")
    parser.add_argument("--rate", type=int, default=SoakPlan.rate, help="single events a second (default 500)")
    parser.add_argument("--sample-seconds", type=float, default=SoakPlan.sample_seconds,
                        help="one sample at the end of every window this long (default 30)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the reports go")
    parser.add_argument("--keep-home", action="store_true",
                        help="keep the temporary MONKEYTOWN_HOME (server logs) instead of deleting it")
    args = parser.parse_args(argv)
    if args.rate < 1 or args.sample_seconds <= 0:
        parser.error("the rate and the sample seconds must be positive")
    # the verdict compares a first quarter with a last: each needs a sample of its own
    if SoakPlan(args.minutes, args.rate, args.sample_seconds).windows < 4:
        parser.error("--minutes must hold at least 4 samples of --sample-seconds")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else list(argv))
    plan = SoakPlan(args.minutes, args.rate, args.sample_seconds)
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        result = run(plan, args.keep_home)
    except KeyboardInterrupt:
        print("bench.soak: interrupted; the API and the database are stopped", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    text = markdown(result)
    json_path, md_path = write_reports(result, text, args.out, "soak")
    print(text)
    _progress(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
