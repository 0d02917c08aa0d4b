"""System events the platform records about itself, landed through the same door as client events."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime

import orjson
import psycopg

from ingest_api.door import LandingRow, admit
from ingest_api.landing import LandingJob, Provenance, land


def record_system_event(url: str, event_type: str, event_data: dict) -> LandingRow:
    event = {"event_id": f"{event_type}-{uuid.uuid4().hex}", "type": event_type, "event_data": event_data}
    verdict = admit(event, datetime.now(UTC), serialized=orjson.dumps(event), endpoint=None)
    if not isinstance(verdict, LandingRow):
        raise ValueError(f"system event {event_type} breaks its own contract: {verdict.message}")
    # bounded: gunicorn's master and the supervisor record these, and a hung database must not hold them
    with psycopg.connect(url, connect_timeout=5, autocommit=True, options="-c statement_timeout=5000") as conn:
        land(conn, [LandingJob([verdict], [], Provenance(source="server"))])
    return verdict


def record_server_start(url: str, version: str, workers: int) -> LandingRow:
    return record_system_event(
        url, "server_start",
        {"version": version, "pid": os.getpid(), "host": socket.gethostname(), "workers": workers},
    )


def record_process_restart(url: str, process: str, exit_code: int, recent_crashes: int,
                           backoff_seconds: float | None) -> LandingRow:
    return record_system_event(url, "process_restart", {
        "process": process, "exit_code": exit_code, "recent_crashes": recent_crashes,
        "action": "restarted" if backoff_seconds is not None else "gave_up", "backoff_seconds": backoff_seconds,
        "host": socket.gethostname(),
    })
