"""One round of each ingest measurement against a running stack, with the CPU, commits and WAL it cost."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

import orjson
import psycopg

from bench import cpu, events, loadgen
from bench.copy_baseline import copy_rows
from bench.stack import HOST, WRITE_KEY, Server, Stack
from bench.summary import best_server

BATCH_SIZE = 500
#: Closed-loop single events are generated for up to this rate, so the API never sees a reused event_id.
MAX_SINGLE_RATE = 8000


def reset(url: str, keep_rows: bool = False) -> None:
    """Empty raw tables and a fresh checkpoint, so every round starts from the same state; with `keep_rows` the
    checkpoint alone (bench/growth.py measures a table that grows)."""
    with psycopg.connect(url, autocommit=True) as conn:
        if not keep_rows:
            conn.execute("TRUNCATE raw.events, raw.event_ids, raw.ingest_errors")
        conn.execute("CHECKPOINT")


def _counters(url: str) -> tuple[int, int]:
    """(next transaction id, WAL position): their deltas count commits and WAL bytes between two calls."""
    with psycopg.connect(url, autocommit=True) as conn:
        xid, lsn = conn.execute(
            "SELECT pg_current_xact_id()::text::bigint, pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint"
        ).fetchone()
    return xid, lsn


def _rows_stored(url: str, posted: list[dict] | None = None) -> int:
    """Rows in raw.events: all of them, or those of the `posted` events (a table that keeps its rows)."""
    with psycopg.connect(url) as conn:
        if posted is None:
            return conn.execute("SELECT count(*) FROM raw.events").fetchone()[0]
        # occurred_at is the timestamp or later (skew correction), so only the newest partitions are probed
        earliest = min(datetime.fromisoformat(event["timestamp"]) for event in posted) - timedelta(minutes=1)
        return conn.execute("SELECT count(*) FROM raw.events WHERE occurred_at >= %s AND event_id = ANY(%s)",
                            (earliest, [event["event_id"] for event in posted])).fetchone()[0]


def measured(stack: Stack, roots: dict[str, int], run: Callable[[], dict]) -> dict:
    """`run()`'s result plus the cores each process tree (and each server's workers) used, write transactions
    and WAL bytes."""
    xid, lsn = _counters(stack.database_url)
    before = cpu.snapshot(roots)
    result = run()
    after = cpu.snapshot(roots)
    xid_after, lsn_after = _counters(stack.database_url)
    # the first _counters call itself used one transaction id
    cores = cpu.usage(before, after, tuple(stack.servers()))
    return {**result, "cores": cores, "commits": xid_after - xid - 1,
            "wal_bytes": lsn_after - lsn}


def _accepted(status: int, body: bytes) -> bool:
    return status == 200 and b'"accepted"' in body


def _answered(status: int, body: bytes) -> bool:
    return status == 200


def _batch_accepted(body: bytes) -> int:
    return orjson.loads(body)["accepted"]


def copy_side(stack: Stack, roots: dict[str, int], game_events: list[dict]) -> dict:
    reset(stack.database_url)
    rows = events.copy_rows(game_events)
    result = measured(stack, roots, lambda: copy_rows(stack.database_url, rows, BATCH_SIZE))
    return {**result, "rows_stored": _rows_stored(stack.database_url)}


def http_batch_side(stack: Stack, roots: dict[str, int], game_events: list[dict], connections: int,
                    keep_rows: bool = False) -> dict:
    reset(stack.database_url, keep_rows)
    requests = events.batch_requests(game_events, BATCH_SIZE, HOST, stack.api.port, WRITE_KEY)
    address = (HOST, stack.api.port)
    result = measured(stack, roots, lambda: loadgen.in_child(
        loadgen.fixed_work, address, requests, connections, _batch_accepted))
    rows = len(game_events)
    return {**result, "rows": rows, "rows_per_s": round(result["units"] / result["seconds"]),
            "connections": connections,
            "rows_stored": _rows_stored(stack.database_url, game_events if keep_rows else None)}


def batch_round(stack: Stack, roots: dict[str, int], rows: int, tag: str, connections: int,
                http_first: bool) -> dict:
    """The same events through raw COPY and through POST /api/events in batches, back to back."""
    game_events = events.game_events(rows, tag)
    sides = [("copy", lambda: copy_side(stack, roots, game_events)),
             ("http", lambda: http_batch_side(stack, roots, game_events, connections))]
    order = list(reversed(sides)) if http_first else sides
    result = {name: side() for name, side in order}
    result["order"] = [name for name, _ in order]
    result["ratio"] = round(result["http"]["rows_per_s"] / result["copy"]["rows_per_s"], 3)
    return result


def open_loop_round(stack: Stack, roots: dict[str, int], rate: int, seconds: float, connections: int,
                    tag: str) -> dict:
    reset(stack.database_url)
    requests = events.single_requests(int(rate * seconds), tag, HOST, stack.api.port, WRITE_KEY)
    return open_loop_side(stack, roots, requests, rate, connections)


def open_loop_side(stack: Stack, roots: dict[str, int], requests: list[bytes], rate: int, connections: int) -> dict:
    """`requests` sent at `rate` a second whether or not earlier answers came, against the tables as they are."""
    address = (HOST, stack.api.port)
    return measured(stack, roots, lambda: loadgen.in_child(
        loadgen.open_loop, address, requests, rate, connections, _accepted))


def closed_loop_round(stack: Stack, roots: dict[str, int], warmup: float, seconds: float, connections: int,
                      tag: str, reverse: bool) -> dict:
    """The API and the hello-world under every server, same bodies, same connections, back to back (in the
    reverse order when `reverse`); the ratio is the API's against the best hello-world of this round."""
    requests = events.single_requests(math.ceil((warmup + seconds) * MAX_SINGLE_RATE), tag, HOST,
                                      stack.api.port, WRITE_KEY)

    def side(server: Server, ok: Callable[[int, bytes], bool]) -> Callable[[], dict]:
        return lambda: measured(stack, roots, lambda: loadgen.in_child(
            loadgen.closed_loop, (HOST, server.port), requests, connections, warmup, seconds, ok))

    def api() -> dict:
        reset(stack.database_url)
        return side(stack.api, _accepted)()

    sides = [("api", api), *((name, side(server, _answered)) for name, server in stack.hellos.items())]
    order = list(reversed(sides)) if reverse else sides
    measured_sides = {name: run() for name, run in order}
    hellos = {name: measured_sides[name] for name in stack.hellos}
    best = best_server({name: h["ok_per_s"] for name, h in hellos.items()})
    return {"order": [name for name, _ in order], "api": measured_sides["api"], "hello": hellos,
            "best_hello": best, "ratio": round(measured_sides["api"]["ok_per_s"] / hellos[best]["ok_per_s"], 3)}


def warm_up(stack: Stack) -> None:
    """Imports, pool connections and prepared statements warmed in every worker before anything is timed."""
    address = (HOST, stack.api.port)
    batches = events.batch_requests(events.game_events(4000, "warm-b"), BATCH_SIZE, HOST, stack.api.port,
                                    WRITE_KEY)
    loadgen.in_child(loadgen.fixed_work, address, batches, 4, _batch_accepted)
    singles = events.single_requests(2000, "warm-s", HOST, stack.api.port, WRITE_KEY)
    loadgen.in_child(loadgen.closed_loop, address, singles, 16, 0.0, 1.0, _accepted)
    for hello in stack.hellos.values():
        loadgen.in_child(loadgen.closed_loop, (HOST, hello.port), singles, 16, 0.0, 0.5, _answered)
    reset(stack.database_url)
