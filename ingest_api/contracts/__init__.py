"""The event contracts: one JSON Schema per event type, declared once in this folder.

They drive validation at the door, `GET /api/contracts`, the OpenAPI document, the raw GX suite and the
simulator; tests/dbt/test_door_facts.py holds what the dbt project restates (types, statuses, vars) to them.
Each `<type>.schema.json` holds the type's own fields; every contract
is that plus the fields of `envelope.schema.json` it takes (`x-envelope`, default all of them).

Each contract names the one write endpoint that accepts it (`x-endpoint`; null: recorded by the platform
itself). Game events name their contract in `type` and their id in `event_id`; a contract without `type`
is its endpoint's only one, and derives the event_id from one of its fields (`x-event-id`, such as
`agent_run:{run_id}`; the colon keeps derived ids apart from client event_ids, which cannot hold one).
`x-occurred-at` names the field holding when it happened (default `timestamp`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources

import fastjsonschema

from ingest_api.contracts.rules import (
    ARRIVAL_OVERLAP,
    DOOR_REASONS,
    MAX_EVENT_AGE,
    MAX_FUTURE_SKEW,
    ROLLUP_LOOKBACK,
    DoorWarning,
    RefusalReason,
    dbt_vars,
)

__all__ = [  # the contracts, and the door's other facts re-exported from .rules
    "AGENT_RUNS_ENDPOINT", "ARRIVAL_OVERLAP", "DOOR_REASONS", "EVENTS_ENDPOINT", "MAX_EVENT_AGE", "MAX_FUTURE_SKEW",
    "ROLLUP_LOOKBACK", "SCHEMA_DIALECT", "SERVER_OWNED_FIELDS", "STREAM_ENDPOINT", "Contract", "DoorWarning",
    "RefusalReason", "body_contract", "contracts", "contracts_at", "dbt_vars", "json_schemas",
]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
EVENTS_ENDPOINT = "/api/events"
AGENT_RUNS_ENDPOINT = "/api/agent-runs"
STREAM_ENDPOINT = "/api/events/stream"
#: Keys the server owns; a client that sends them is ignored, never trusted.
SERVER_OWNED_FIELDS = frozenset(
    {"received_at", "occurred_at", "client_timestamp", "player_id", "is_anonymous", "contract_version", "source"}
)
_EVENT_ID_TEMPLATE = re.compile(r"^([A-Za-z0-9_:-]*)\{(\w+)\}$")


@dataclass(frozen=True)
class Contract:
    type: str
    version: int
    source: str  # raw.events.source: "client" (games), "ci" (agent runs) or "server" (the platform itself)
    endpoint: str | None  # the one write endpoint that accepts it; None: recorded by the platform only
    schema: dict
    validate: Callable[[dict], object]
    well_formed: dict[str, re.Pattern]  # fields whose malformed values are accepted with a warning
    typed: bool  # the body names its contract in `type`; else it is its endpoint's only contract
    key_field: str  # the field whose value (a string, or an integer as its decimals) identifies the event
    event_id_prefix: str  # event_id = this + the key field's value
    occurred_field: str  # when it happened, corrected for clock skew with sent_at
    time_fields: tuple[str, ...]  # every field holding a time (RFC 3339 or epoch ms), in declaration order


def _load(name: str) -> dict:
    return json.loads(resources.files(__package__).joinpath(name).read_text("utf-8"))


def _compose(envelope: dict, own: dict) -> dict:
    event_type = own["title"]
    taken = own.get("x-envelope", list(envelope["properties"]))
    properties = {name: envelope["properties"][name] for name in taken}
    if "type" in properties:
        properties["type"] = {**properties["type"], "const": event_type}
    properties.update(own["properties"])
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": f"urn:monkeytown:contract:{event_type}:v{own['x-version']}",
        "title": event_type,
        "description": own["description"],
        "type": "object",
        "properties": properties,
        "required": [name for name in envelope["required"] if name in taken] + own["required"],
        "additionalProperties": False,
        **{key: value for key, value in own.items() if key.startswith("x-") and key != "x-envelope"},
    }


def _compile(schema: dict) -> Callable[[dict], object]:
    # fastjsonschema speaks draft-07; the subset used here means the same in 2020-12. Times are checked
    # (strictly, and once) by ingest_api.timestamps, so the date-time format is not checked twice.
    draft7 = {k: v for k, v in schema.items() if k not in ("$schema", "$id")}
    return fastjsonschema.compile(draft7, formats={"date-time": _any_string})


def _any_string(value: str) -> bool:
    return True


def _is_time(spec: dict) -> bool:
    return any(option.get("format") == "date-time" for option in spec.get("anyOf", ()))


def _event_id_key(schema: dict) -> tuple[str, str]:
    """(prefix, key field) of the contract's event_id template."""
    template = schema.get("x-event-id", "{event_id}")
    match = _EVENT_ID_TEMPLATE.match(template)
    if not match or match[2] not in schema["properties"]:
        raise ValueError(f"contract {schema['title']}: x-event-id {template!r} must be PREFIX{{field}}")
    return match[1], match[2]


def _contract(envelope: dict, own: dict) -> Contract:
    schema = _compose(envelope, own)
    properties = schema["properties"]
    prefix, key_field = _event_id_key(schema)
    return Contract(
        type=own["title"],
        version=own["x-version"],
        source=own["x-source"],
        endpoint=own["x-endpoint"],
        schema=schema,
        validate=_compile(schema),
        well_formed={name: re.compile(spec["x-well-formed"]) for name, spec in properties.items()
                     if "x-well-formed" in spec},
        typed="type" in properties,
        key_field=key_field,
        event_id_prefix=prefix,
        occurred_field=own.get("x-occurred-at", "timestamp"),
        time_fields=tuple(name for name, spec in properties.items() if _is_time(spec)),
    )


@cache
def contracts() -> dict[str, Contract]:
    envelope = _load("envelope.schema.json")
    found = {}
    for entry in sorted(resources.files(__package__).iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".schema.json") or entry.name == "envelope.schema.json":
            continue
        own = _load(entry.name)
        found[own["title"]] = _contract(envelope, own)
    return found


@cache
def contracts_at(endpoint: str | None) -> dict[str, Contract]:
    """The contracts one write endpoint accepts (None: the events the platform records about itself)."""
    return {name: c for name, c in contracts().items() if c.endpoint == endpoint}


@cache
def body_contract(endpoint: str | None) -> Contract | None:
    """The contract every body sent to `endpoint` is held to, where bodies carry no `type` (agent runs);
    None where each body's `type` names its contract (events)."""
    at_endpoint = list(contracts_at(endpoint).values())
    untyped = [c for c in at_endpoint if not c.typed]
    if untyped and len(at_endpoint) > 1:
        raise ValueError(f"{endpoint}: a contract without `type` must be its endpoint's only one")
    return untyped[0] if untyped else None


def json_schemas() -> dict[str, dict]:
    """The contracts as served by `GET /api/contracts`."""
    return {name: c.schema for name, c in contracts().items()}
