"""The event contracts: one JSON Schema per event type, declared once in this folder.

They drive validation at the door, `GET /api/contracts`, the OpenAPI document and (later) the dbt
source docs and the GX suites. Each `<type>.schema.json` holds the type's own fields; every contract
is that plus `envelope.schema.json`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources

import fastjsonschema

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: Keys the server owns; a client that sends them is ignored, never trusted.
SERVER_OWNED_FIELDS = frozenset(
    {"received_at", "occurred_at", "client_timestamp", "player_id", "is_anonymous", "contract_version", "source"}
)


@dataclass(frozen=True)
class Contract:
    type: str
    version: int
    source: str  # "client": accepted on the public endpoints; "server": recorded by the platform itself
    schema: dict
    validate: Callable[[dict], object]
    well_formed: dict[str, re.Pattern]  # fields whose malformed values are accepted with a warning


def _load(name: str) -> dict:
    return json.loads(resources.files(__package__).joinpath(name).read_text("utf-8"))


def _compose(envelope: dict, own: dict) -> dict:
    event_type = own["title"]
    properties = dict(envelope["properties"])
    properties["type"] = {**properties["type"], "const": event_type}
    properties.update(own["properties"])
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": f"urn:monkeytown:contract:{event_type}:v{own['x-version']}",
        "title": event_type,
        "description": own["description"],
        "type": "object",
        "properties": properties,
        "required": envelope["required"] + own["required"],
        "additionalProperties": False,
        "x-version": own["x-version"],
        "x-source": own["x-source"],
    }


def _compile(schema: dict) -> Callable[[dict], object]:
    # fastjsonschema speaks draft-07; the subset used here means the same in 2020-12. Times are checked
    # (strictly, and once) by ingest_api.timestamps, so the date-time format is not checked twice.
    draft7 = {k: v for k, v in schema.items() if k not in ("$schema", "$id")}
    return fastjsonschema.compile(draft7, formats={"date-time": _any_string})


def _any_string(value: str) -> bool:
    return True


@cache
def contracts() -> dict[str, Contract]:
    envelope = _load("envelope.schema.json")
    found = {}
    for entry in sorted(resources.files(__package__).iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".schema.json") or entry.name == "envelope.schema.json":
            continue
        own = _load(entry.name)
        schema = _compose(envelope, own)
        well_formed = {
            name: re.compile(spec["x-well-formed"])
            for name, spec in schema["properties"].items()
            if "x-well-formed" in spec
        }
        found[own["title"]] = Contract(
            type=own["title"],
            version=own["x-version"],
            source=own["x-source"],
            schema=schema,
            validate=_compile(schema),
            well_formed=well_formed,
        )
    return found


def client_contracts() -> dict[str, Contract]:
    return {name: c for name, c in contracts().items() if c.source == "client"}


def json_schemas() -> dict[str, dict]:
    """The contracts as served by `GET /api/contracts`."""
    return {name: c.schema for name, c in contracts().items()}
