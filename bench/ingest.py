"""One round of each ingest measurement against a running stack, with the CPU, commits and WAL it cost."""

from __future__ import annotations

import math
from collections.abc import Callable

import orjson
import psycopg

from bench import cpu, events, loadgen
from bench.copy_baseline import copy_rows
from bench.stack import HOST, WRITE_KEY, Stack

BATCH_SIZE = 500
#: Closed-loop single events are generated for up to this rate, so the API never sees a reused event_id.
MAX_SINGLE_RATE = 8000


def reset(url: str) -> None:
    """Empty raw tables and a fresh checkpoint, so every round starts from the same state."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE raw.events, raw.event_ids, raw.ingest_errors")
        conn.execute("CHECKPOINT")


def _counters(url: str) -> tuple[int, int]:
    """(next transaction id, WAL position): their deltas count commits and WAL bytes between two calls."""
    with psycopg.connect(url, autocommit=True) as conn:
        xid, lsn = conn.execute(
            "SELECT pg_current_xact_id()::text::bigint, pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint"
        ).fetchone()
    return xid, lsn


def _rows_stored(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM raw.events").fetchone()[0]


def measured(stack: Stack, roots: dict[str, int], run: Callable[[], dict]) -> dict:
    """`run()`'s result plus the cores each process tree used, write transactions and WAL bytes."""
    xid, lsn = _counters(stack.database_url)
    before = cpu.snapshot(roots)
    result = run()
    after = cpu.snapshot(roots)
    xid_after, lsn_after = _counters(stack.database_url)
    # the first _counters call itself used one transaction id
    return {**result, "cores": cpu.usage(before, after), "commits": xid_after - xid - 1,
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


def http_batch_side(stack: Stack, roots: dict[str, int], game_events: list[dict], connections: int) -> dict:
    reset(stack.database_url)
    requests = events.batch_requests(game_events, BATCH_SIZE, HOST, stack.api.port, WRITE_KEY)
    address = (HOST, stack.api.port)
    result = measured(stack, roots, lambda: loadgen.in_child(
        loadgen.fixed_work, address, requests, connections, _batch_accepted))
    rows = len(game_events)
    return {**result, "rows": rows, "rows_per_s": round(result["units"] / result["seconds"]),
            "connections": connections, "rows_stored": _rows_stored(stack.database_url)}


def batch_round(stack: Stack, roots: dict[str, int], rows: int, tag: str, connections: int,
                http_first: bool) -> dict:
    """The same events through raw COPY and through POST /api/events in batches, back to back."""
    game_events = events.game_events(rows, tag)
    sides = [("copy", lambda: copy_side(stack, roots, game_events)),
             ("http", lambda: http_batch_side(stack, roots, game_events, connections))]
    result = {name: side() for name, side in (reversed(sides) if http_first else sides)}
    result["ratio"] = round(result["http"]["rows_per_s"] / result["copy"]["rows_per_s"], 3)
    return result


def open_loop_round(stack: Stack, roots: dict[str, int], rate: int, seconds: float, connections: int,
                    tag: str) -> dict:
    reset(stack.database_url)
    requests = events.single_requests(int(rate * seconds), tag, HOST, stack.api.port, WRITE_KEY)
    address = (HOST, stack.api.port)
    return measured(stack, roots, lambda: loadgen.in_child(
        loadgen.open_loop, address, requests, rate, connections, _accepted))


def closed_loop_pair(stack: Stack, roots: dict[str, int], warmup: float, seconds: float, connections: int,
                     tag: str, hello_first: bool) -> dict:
    """The API and the hello-world under the same gunicorn settings, same bodies, back to back."""
    requests = events.single_requests(math.ceil((warmup + seconds) * MAX_SINGLE_RATE), tag, HOST,
                                      stack.api.port, WRITE_KEY)

    def api() -> dict:
        reset(stack.database_url)
        return measured(stack, roots, lambda: loadgen.in_child(
            loadgen.closed_loop, (HOST, stack.api.port), requests, connections, warmup, seconds, _accepted))

    def hello() -> dict:
        return measured(stack, roots, lambda: loadgen.in_child(
            loadgen.closed_loop, (HOST, stack.hello.port), requests, connections, warmup, seconds, _answered))

    sides = [("api", api), ("hello", hello)]
    result = {name: side() for name, side in (reversed(sides) if hello_first else sides)}
    result["ratio"] = round(result["api"]["ok_per_s"] / result["hello"]["ok_per_s"], 3)
    return result


def warm_up(stack: Stack) -> None:
    """Imports, pool connections and prepared statements warmed in both workers before anything is timed."""
    address = (HOST, stack.api.port)
    batches = events.batch_requests(events.game_events(4000, "warm-b"), BATCH_SIZE, HOST, stack.api.port,
                                    WRITE_KEY)
    loadgen.in_child(loadgen.fixed_work, address, batches, 4, _batch_accepted)
    singles = events.single_requests(2000, "warm-s", HOST, stack.api.port, WRITE_KEY)
    loadgen.in_child(loadgen.closed_loop, address, singles, 16, 0.0, 1.0, _accepted)
    loadgen.in_child(loadgen.closed_loop, (HOST, stack.hello.port), singles, 16, 0.0, 0.5, _answered)
    reset(stack.database_url)
