"""System events the platform records about itself, landed through the same door as client events."""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from datetime import UTC, date, datetime
from importlib import resources

import orjson
import psycopg

from ingest_api.door import LandingRow, admit
from ingest_api.landing import LandingJob, Provenance, land
from monkeytown.settings_fingerprint import SettingsFingerprint, changed_settings

_LAST_CONFIG_CHANGE_SQL = resources.files("ingest_api").joinpath("sql/last_config_change.sql").read_text("utf-8")


def system_event_row(event_type: str, event_data: dict, event_id: str | None = None) -> LandingRow:
    """A system event admitted by the door's rules, ready to land; `event_id` (default: a new one) makes a repeat a
    duplicate."""
    event = {"event_id": event_id or f"{event_type}-{uuid.uuid4().hex}", "type": event_type, "event_data": event_data}
    verdict = admit(event, datetime.now(UTC), serialized=orjson.dumps(event), endpoint=None)
    if not isinstance(verdict, LandingRow):
        raise ValueError(f"system event {event_type} breaks its own contract: {verdict.message}")
    return verdict


def land_system_events(conn: psycopg.Connection, rows: list[LandingRow]) -> None:
    land(conn, [LandingJob(rows, [], Provenance(source="server"))])


def bounded_connection(url: str, timeout_seconds: int) -> psycopg.Connection:
    """A connection whose connect and every statement give up after `timeout_seconds`."""
    # bounded: gunicorn's master and the supervisor record these, and a hung database must not hold them
    return psycopg.connect(url, connect_timeout=timeout_seconds, autocommit=True,
                           options=f"-c statement_timeout={timeout_seconds * 1000}")


def record_system_event(url: str, event_type: str, event_data: dict, event_id: str | None = None,
                        timeout_seconds: int = 5) -> LandingRow:
    """Lands a system event through the door's rules; `event_id` (default: a new one) makes a repeat a duplicate."""
    verdict = system_event_row(event_type, event_data, event_id)
    with bounded_connection(url, timeout_seconds) as conn:
        land_system_events(conn, [verdict])
    return verdict


def record_server_start(url: str, version: str, workers: int) -> LandingRow:
    return record_system_event(
        url, "server_start",
        {"version": version, "pid": os.getpid(), "host": socket.gethostname(), "workers": workers},
    )


#: The bound on each wait (connect, statement) of the events gunicorn's master records while it stops or
#: replaces a worker: it serves nobody meanwhile.
STOP_TIMEOUT_SECONDS = 2


def record_server_stop(url: str, version: str, reason: str | None) -> LandingRow:
    return record_system_event(
        url, "server_stop",
        {"version": version, "pid": os.getpid(), "host": socket.gethostname(), "reason": reason},
        timeout_seconds=STOP_TIMEOUT_SECONDS,
    )


def record_worker_restart(url: str, pid: int, reason: str, recent_crashes: int) -> LandingRow:
    """An API worker (gunicorn) died without being asked to and its master starts another at once; gunicorn's hooks
    do not get its exit status."""
    return record_system_event(url, "process_restart", {
        "process": "api-worker", "pid": pid, "reason": reason, "exit_code": None, "recent_crashes": recent_crashes,
        "action": "restarted", "backoff_seconds": 0, "host": socket.gethostname(),
    }, timeout_seconds=STOP_TIMEOUT_SECONDS)


def record_run_failure(url: str, run_id: str, job_name: str, step_keys: list[str], message: str,
                       run_url_path: str) -> LandingRow:
    """A Dagster run failed; one id per run, so the sensor's retried tick lands a duplicate."""
    return record_system_event(url, "run_failure", {
        "run_id": run_id, "job_name": job_name, "step_keys": step_keys, "message": message[:1000],
        "run_url_path": run_url_path,
    }, event_id=f"run_failure-{run_id}")


def record_config_change(url: str, current: SettingsFingerprint) -> LandingRow | None:
    """Records `current` as a config_change when it differs from the last one on record in raw.events (shared by
    every API host on the database, unlike a file under MONKEYTOWN_HOME); None when it does not. Starts at once
    take turns, so they record one change, not one each."""
    with bounded_connection(url, 5) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('monkeytown config_change'))")
        found = conn.execute(_LAST_CONFIG_CHANGE_SQL).fetchone()
        previous = found[0] if found else None
        if previous and previous.get("fingerprint") == current.fingerprint:
            return None
        row = system_event_row("config_change", {
            "fingerprint": current.fingerprint, "previous_fingerprint": (previous or {}).get("fingerprint"),
            "changed": changed_settings(previous, current), "settings": current.settings, "key_id": current.key_id,
            "pid": os.getpid(), "host": socket.gethostname(),
        })
        land_system_events(conn, [row])
    return row


def record_process_restart(url: str, process: str, exit_code: int, recent_crashes: int,
                           backoff_seconds: float | None) -> LandingRow:
    return record_system_event(url, "process_restart", {
        "process": process, "exit_code": exit_code, "recent_crashes": recent_crashes,
        "action": "restarted" if backoff_seconds is not None else "gave_up", "backoff_seconds": backoff_seconds,
        "host": socket.gethostname(),
    })


#: The rows_quarantined contract lists at most this many event_ids (all of them are in raw.ingest_errors).
LISTED_EVENT_IDS = 20


def record_rows_quarantined(url: str, model: str, error: str, event_ids: list[str],
                            run_id: str | None = None) -> LandingRow:
    """The core pipeline moved these rows to raw.ingest_errors because they broke `model` with `error`."""
    return record_system_event(url, "rows_quarantined", {
        "model": model, "error": error[:1000], "rows": len(event_ids), "event_ids": event_ids[:LISTED_EVENT_IDS],
        "run_id": run_id,
    })


def record_retention(conn: psycopg.Connection, family: str, day: date, rows: int, archived_bytes: int,
                     archive_object: str) -> LandingRow:
    """Retention archived and dropped `family`'s `day`. Lands on `conn`, inside the caller's transaction, so the
    event commits with the drop or not at all; one id per family and day, so a repeat is a duplicate."""
    return _land_retention(conn, f"retention-{family}-{day:%Y%m%d}", {
        "action": "archived_and_dropped", "family": family, "day": day.isoformat(), "rows": rows,
        "bytes": archived_bytes, "archive_object": archive_object,
    })


def record_players_retention(conn: psycopg.Connection, action: str, as_of: date, players: int,
                             tables: dict[str, int]) -> LandingRow:
    """Retention anonymized (`players_anonymized`) or deleted (`players_deleted`) players, with the rows it changed
    per table. Lands on `conn`, inside the caller's transaction, so it commits with the change or not at all."""
    return _land_retention(conn, f"retention-{action}-{uuid.uuid4().hex}", {
        "action": action, "as_of": as_of.isoformat(), "players": players, "rows": sum(tables.values()),
        "tables": tables,
    })


def record_history_pruned(url: str, as_of: date, what: str, rows: int, freed_bytes: int | None = None) -> LandingRow:
    """Housekeeping pruned the platform's own history older than the setting: `what` names it, `rows` counts it."""
    data = {"action": "history_pruned", "as_of": as_of.isoformat(), "what": what, "rows": rows}
    if freed_bytes is not None:
        data["bytes"] = freed_bytes
    return record_system_event(url, "retention", data)


def record_check_breach(url: str, asset: str, check: str, breach: dict, at: datetime) -> LandingRow:
    """A monitoring check (orchestration/monitoring) found its threshold breached at `at`; `breach` is the
    contract's event_data less `asset` and `check`. One id per check and UTC hour: a breach that lasts lands once an
    hour, and a retried run's copy is a duplicate."""
    check_id = hashlib.blake2b(f"{asset}:{check}".encode(), digest_size=8).hexdigest()  # fits any name in 64
    return record_system_event(url, "check_breach", {"asset": asset, "check": check, **breach},
                               event_id=f"check_breach-{check_id}-{at.astimezone(UTC):%Y%m%d%H}")


def _land_retention(conn: psycopg.Connection, event_id: str, event_data: dict) -> LandingRow:
    row = system_event_row("retention", event_data, event_id)
    land_system_events(conn, [row])
    return row
