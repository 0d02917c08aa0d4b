"""The reference the batch path is held to: a raw psycopg COPY of the same events into raw.events."""

from __future__ import annotations

import time

import psycopg

COPY_EVENTS = (
    "COPY raw.events (event_id, type, contract_version, occurred_at, client_timestamp, sent_at, received_at, "
    "session_id, player_id, is_anonymous, game_id, source, payload) FROM STDIN"
)


def copy_rows(url: str, rows: list[tuple], per_transaction: int) -> dict:
    """Rows/s of COPY, `per_transaction` rows per commit, on one connection (connecting is not timed)."""
    with psycopg.connect(url, options="-c TimeZone=UTC") as conn:
        cpu, start = time.process_time(), time.perf_counter()
        for first in range(0, len(rows), per_transaction):
            with conn.transaction(), conn.cursor() as cur, cur.copy(COPY_EVENTS) as copy:
                for row in rows[first:first + per_transaction]:
                    copy.write_row(row)
        seconds = time.perf_counter() - start
        client_cpu = time.process_time() - cpu
    return {"rows": len(rows), "seconds": round(seconds, 3), "rows_per_s": round(len(rows) / seconds),
            "client_cpu_cores": round(client_cpu / seconds, 3)}
