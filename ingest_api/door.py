"""The data-quality rules at the door: one parsed event in, a row to land or a rejection out."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime

import fastjsonschema
import orjson

from ingest_api.contracts import SERVER_OWNED_FIELDS, Contract, contracts
from ingest_api.timestamps import corrected_time, parse_event_time, window_violation

MAX_EVENT_BYTES = 32 * 1024


@dataclass(slots=True)
class LandingRow:
    """An accepted event, shaped like a row of raw.events."""

    event_id: str
    type: str
    contract_version: int
    occurred_at: datetime
    client_timestamp: datetime | None
    sent_at: datetime | None
    received_at: datetime
    session_id: str | None
    player_id: str | None
    is_anonymous: bool
    game_id: str | None
    source: str
    payload: str
    payload_hash: bytes
    warnings: list[str] = dataclass_field(default_factory=list)
    ignored_fields: list[str] = dataclass_field(default_factory=list)


@dataclass(slots=True)
class Rejection:
    """A refused event, shaped like a row of raw.ingest_errors."""

    reason: str
    message: str
    payload: str
    received_at: datetime
    field: str | None = None
    event_id: str | None = None
    event_type: str | None = None
    warnings: list[str] = dataclass_field(default_factory=list)


def _known(value: object, limit: int = 256) -> str | None:
    return value if isinstance(value, str) and len(value) <= limit else None


def _schema_failure(error: fastjsonschema.JsonSchemaValueException, event: dict) -> tuple[str, str, str | None]:
    """(reason, message, field) for a JSON-Schema failure, naming the field the client got wrong."""
    if error.rule == "required":
        missing = next(name for name in error.rule_definition if name not in event)
        return "missing_field", f"required field '{missing}' is missing", missing
    if error.rule == "additionalProperties":
        extra = sorted(set(event) - set(error.definition["properties"]))
        return "schema_mismatch", f"unknown field '{extra[0]}' (not in the contract)", extra[0]
    path = error.name[len("data."):] if error.name.startswith("data.") else None
    message = error.message.replace("data.", "", 1) if path else error.message
    if error.rule == "anyOf" and path in ("timestamp", "sent_at"):
        message = f"{path} must be an RFC 3339 string with an offset or integer epoch milliseconds"
    return "schema_mismatch", message, path


def _nul_path(value: object, path: str = "") -> str | None:
    """The path of the first string holding U+0000, which PostgreSQL text and jsonb cannot store."""
    if isinstance(value, str):
        return path or "(event)" if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return f"{path}.{key!r}".lstrip(".")
            found = _nul_path(item, f"{path}.{key}".lstrip("."))
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _nul_path(item, f"{path}[{i}]")
            if found:
                return found
    return None


def _payload_hash(event: dict, serialized: bytes) -> bytes:
    """Identifies the payload: a retry (same fields, same order, any sent_at) hashes the same."""
    if "sent_at" in event:  # it changes on every client retry
        serialized = orjson.dumps({k: v for k, v in event.items() if k != "sent_at"})
    return hashlib.blake2b(serialized, digest_size=16).digest()


def _player(contract: Contract, event: dict) -> tuple[str | None, str | None, bool]:
    """(session_id, player_id, is_anonymous): a malformed or empty session becomes a new anonymous player."""
    pattern = contract.well_formed.get("session_id")
    if pattern is None or "session_id" not in event:
        return None, None, False
    session = event["session_id"]
    if isinstance(session, str) and pattern.fullmatch(session):
        return session, session, False
    return None, f"anon-{event['event_id']}", True


def admit(
    event: object,
    received_at: datetime,
    *,
    serialized: bytes | None = None,
    allowed_sources: tuple[str, ...] = ("client",),
) -> LandingRow | Rejection:
    """Apply every door rule to one parsed event received at `received_at` (UTC)."""
    raw = serialized if serialized is not None else orjson.dumps(event)
    as_received = raw.decode("utf-8")
    if not isinstance(event, dict):
        return Rejection("schema_mismatch", "an event must be a JSON object", as_received, received_at)
    event_id, event_type = _known(event.get("event_id")), _known(event.get("type"))

    def reject(reason: str, message: str, field_name: str | None = None) -> Rejection:
        return Rejection(reason, message, as_received, received_at, field_name, event_id, event_type)

    if len(raw) > MAX_EVENT_BYTES:
        return reject("too_large", f"event is {len(raw)} bytes; the limit is {MAX_EVENT_BYTES}")
    ignored = sorted(SERVER_OWNED_FIELDS.intersection(event))
    if ignored:
        event = {k: v for k, v in event.items() if k not in SERVER_OWNED_FIELDS}
    for required in ("event_id", "type"):
        if required not in event:
            return reject("missing_field", f"required field '{required}' is missing", required)
    contract = contracts().get(event["type"]) if isinstance(event["type"], str) else None
    if contract is None or contract.source not in allowed_sources:
        return reject("schema_mismatch", f"unknown event type {str(event['type'])[:64]!r}", "type")
    try:
        contract.validate(event)
    except fastjsonschema.JsonSchemaValueException as error:
        return reject(*_schema_failure(error, event))
    if "\\u0000" in as_received and (path := _nul_path(event)):
        return reject("schema_mismatch", f"{path} contains a NUL character (U+0000)", path.split(".")[0])

    times = {}
    for name in ("timestamp", "sent_at"):
        try:
            times[name] = parse_event_time(event[name]) if name in event else None
        except (ValueError, OverflowError, OSError) as error:
            return reject("schema_mismatch", f"{name}: {error}", name)
    occurred_at = corrected_time(times["timestamp"], times["sent_at"], received_at)
    violation = window_violation(occurred_at, received_at)
    if violation == "stale":
        rejection = reject("stale", f"occurred at {occurred_at.isoformat()}, more than 24 h before receipt")
        rejection.warnings.append("stale")
        return rejection
    if violation == "future":
        return reject("future", f"occurred at {occurred_at.isoformat()}, more than 1 h after receipt")

    session_id, player_id, anonymous = _player(contract, event)
    payload_bytes = orjson.dumps(event) if ignored or serialized is not None else raw
    payload = payload_bytes.decode("utf-8") if payload_bytes is not raw else as_received
    return LandingRow(
        event_id=event["event_id"],
        type=contract.type,
        contract_version=contract.version,
        occurred_at=occurred_at,
        client_timestamp=times["timestamp"],
        sent_at=times["sent_at"],
        received_at=received_at,
        session_id=session_id,
        player_id=player_id,
        is_anonymous=anonymous,
        game_id=event.get("game_id"),
        source=contract.source,
        payload=payload,
        payload_hash=_payload_hash(event, payload_bytes),
        warnings=["anonymous_player"] if anonymous else [],
        ignored_fields=ignored,
    )
