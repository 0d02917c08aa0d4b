"""The data-quality rules at the door: one parsed event in, a row to land or a rejection out."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime, timedelta

import fastjsonschema
import orjson

from ingest_api.contracts import (
    EVENTS_ENDPOINT,
    MAX_EVENT_AGE,
    MAX_FUTURE_SKEW,
    SERVER_OWNED_FIELDS,
    Contract,
    DoorWarning,
    RefusalReason,
    body_contract,
    contracts_at,
)
from ingest_api.stored_form import with_integers
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
    identity: dict[str, str] = dataclass_field(default_factory=dict)  # how the answer names it


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
    identity: dict[str, str] = dataclass_field(default_factory=dict)  # how the answer names it, where known


def _known(value: object, limit: int = 256) -> str | None:
    return value if isinstance(value, str) and len(value) <= limit else None


def _key_text(value: object) -> str | None:
    """An idempotency key as text: a string as it is, an integer (also 7.0) as its decimals."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 2**63):
        return str(int(value))
    return _known(value)


def _identity(contract: Contract | None, event: dict) -> dict[str, str]:
    """The event's id, and the field it derives from where it has one (run_id); empty where not usable."""
    if contract is None:
        event_id = _known(event.get("event_id"))
        return {"event_id": event_id} if event_id else {}
    key = _key_text(event.get(contract.key_field))
    return {contract.key_field: key, "event_id": contract.event_id_prefix + key} if key else {}


def _schema_failure(
    error: fastjsonschema.JsonSchemaValueException, event: dict, contract: Contract
) -> tuple[str, str, str | None]:
    """(reason, message, field) for a JSON-Schema failure, naming the field the client got wrong."""
    if error.rule == "required":
        missing = next(name for name in error.rule_definition if name not in event)
        return RefusalReason.MISSING_FIELD, f"required field '{missing}' is missing", missing
    if error.rule == "additionalProperties":
        extra = sorted(set(event) - set(error.definition["properties"]))
        return RefusalReason.SCHEMA_MISMATCH, f"unknown field '{extra[0]}' (not in the contract)", extra[0]
    path = error.name[len("data."):] if error.name.startswith("data.") else None
    message = error.message.replace("data.", "", 1) if path else error.message
    if error.rule == "anyOf" and path in contract.time_fields:
        message = f"{path} must be an RFC 3339 string with an offset or integer epoch milliseconds"
    return RefusalReason.SCHEMA_MISMATCH, message, path


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g} h"


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
    endpoint: str | None = EVENTS_ENDPOINT,
) -> LandingRow | Rejection:
    """Apply every door rule to one parsed event received at `received_at` (UTC) on `endpoint` (None: an
    event the platform records about itself)."""
    raw = serialized if serialized is not None else orjson.dumps(event)
    as_received = raw.decode("utf-8")
    if not isinstance(event, dict):
        return Rejection(RefusalReason.SCHEMA_MISMATCH, "an event must be a JSON object", as_received, received_at)
    contract = body_contract(endpoint)  # None: the body's type picks it, below
    identity = _identity(contract, event)
    event_id = identity.get("event_id")
    event_type = contract.type if contract else _known(event.get("type"))

    def reject(reason: str, message: str, field_name: str | None = None) -> Rejection:
        return Rejection(reason, message, as_received, received_at, field_name, event_id, event_type,
                         identity=identity)

    if len(raw) > MAX_EVENT_BYTES:
        return reject(RefusalReason.TOO_LARGE, f"event is {len(raw)} bytes; the limit is {MAX_EVENT_BYTES}")
    ignored = sorted(SERVER_OWNED_FIELDS.intersection(event))
    if ignored:
        event = {k: v for k, v in event.items() if k not in SERVER_OWNED_FIELDS}
    if contract is None:
        for required in ("event_id", "type"):
            if required not in event:
                return reject(RefusalReason.MISSING_FIELD, f"required field '{required}' is missing", required)
        contract = contracts_at(endpoint).get(event["type"]) if isinstance(event["type"], str) else None
        if contract is None:
            return reject(RefusalReason.SCHEMA_MISMATCH, f"unknown event type {str(event['type'])[:64]!r}", "type")
    try:
        contract.validate(event)
    except fastjsonschema.JsonSchemaValueException as error:
        return reject(*_schema_failure(error, event, contract))
    if "\\u0000" in as_received and (path := _nul_path(event)):
        return reject(RefusalReason.SCHEMA_MISMATCH, f"{path} contains a NUL character (U+0000)", path.split(".")[0])

    times = {}
    for name in contract.time_fields:
        try:
            times[name] = parse_event_time(event[name]) if name in event else None
        except (ValueError, OverflowError, OSError) as error:
            return reject(RefusalReason.SCHEMA_MISMATCH, f"{name}: {error}", name)
    occurred_field = contract.occurred_field
    occurred_at = corrected_time(times[occurred_field], times.get("sent_at"), received_at)
    violation = window_violation(occurred_at, received_at)
    if violation is RefusalReason.STALE:
        rejection = reject(violation, f"occurred at {occurred_at.isoformat()}, more than {_hours(MAX_EVENT_AGE)} "
                           "before receipt", occurred_field)
        rejection.warnings.append(DoorWarning.STALE)
        return rejection
    if violation is RefusalReason.FUTURE:
        return reject(violation, f"occurred at {occurred_at.isoformat()}, more than {_hours(MAX_FUTURE_SKEW)} after "
                      "receipt", occurred_field)

    session_id, player_id, anonymous = _player(contract, event)
    key = identity[contract.key_field]
    stored = with_integers(event, contract.schema)
    if stored[contract.key_field] != key:  # an integer run_id is stored as its decimals
        stored = {**stored, contract.key_field: key}
    normalized, event = stored is not event, stored
    payload_bytes = orjson.dumps(event) if ignored or normalized or serialized is not None else raw
    payload = payload_bytes.decode("utf-8") if payload_bytes is not raw else as_received
    return LandingRow(
        event_id=identity["event_id"],
        type=contract.type,
        contract_version=contract.version,
        occurred_at=occurred_at,
        client_timestamp=times[occurred_field],
        sent_at=times.get("sent_at"),
        received_at=received_at,
        session_id=session_id,
        player_id=player_id,
        is_anonymous=anonymous,
        game_id=event.get("game_id"),
        source=contract.source,
        payload=payload,
        payload_hash=_payload_hash(event, payload_bytes),
        warnings=[DoorWarning.ANONYMOUS_PLAYER] if anonymous else [],
        ignored_fields=ignored,
        identity=identity,
    )
