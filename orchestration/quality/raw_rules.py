"""The data-quality rules for raw.events, generated from the event contracts (the door's own source of
truth): a view that spells each payload field out as columns, and the expectations that hold a landed row
to its contract. No GX import here; context.py turns the rules into expectations."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from psycopg import sql

from ingest_api.contracts import MAX_EVENT_AGE, MAX_FUTURE_SKEW, Contract, contracts
from orchestration.quality.rows_to_validate import fill_statement

RAW_SUITE = "raw_events"
RAW_VIEW = "raw_events_to_validate"
RAW_KEY_COLUMNS = ("event_id", "occurred_at")
#: The door's window, as arrival delays (received_at - occurred_at): at most MAX_EVENT_AGE, at least
#: -MAX_FUTURE_SKEW (after skew correction).
OLDEST_SECONDS = int(MAX_EVENT_AGE.total_seconds())
NEWEST_SECONDS = -int(MAX_FUTURE_SKEW.total_seconds())
#: Later than this is accepted but worth a warning (a device offline for hours).
LATE_ARRIVAL_SECONDS = int(timedelta(hours=1).total_seconds())
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_JSON_TYPES = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean",
               "object": "object", "array": "array", "null": "null"}


@dataclass(frozen=True)
class Rule:
    """One expectation: `kind` is the GX expectation class name, `severity` critical (the row breaks its
    contract: quarantined) or warning (recorded)."""

    name: str
    kind: str
    column: str
    severity: str
    field: str | None
    options: dict = field(default_factory=dict)
    event_type: str | None = None
    #: its failing rows are moved out of raw.events; False for a rule no single row breaks on its own
    quarantine: bool = True


def json_types(spec: dict) -> list[str]:
    """The jsonb_typeof() names a property's JSON Schema allows."""
    declared = spec.get("type") or [t for option in spec.get("anyOf", ()) for t in _as_list(option.get("type"))]
    if "enum" in spec and not declared:
        declared = sorted({_json_name(value) for value in spec["enum"]})
    return sorted({_JSON_TYPES[t] for t in _as_list(declared)})


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value] if value else []


def _json_name(value) -> str:
    return {str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def payload_properties() -> list[str]:
    names = sorted({name for c in contracts().values() for name in c.schema["properties"]})
    bad = [name for name in names if not _IDENTIFIER.match(name)]
    if bad:
        raise ValueError(f"contract properties must be lower-case identifiers to become columns: {bad}")
    return names


def view_sql(since: datetime | None) -> sql.Composed:
    """The rows that arrived after `since` (None: every row), with every contract property as <name>__type
    (jsonb_typeof), <name>__text (a string's value) and <name>__number (a number's value). `since` is a
    literal, so the planner sees how few rows that is (the table is filled again for each validation)."""
    columns = []
    for name in payload_properties():
        value = sql.SQL("e.payload -> {}").format(sql.Literal(name))
        columns += [
            sql.SQL("jsonb_typeof({v}) AS {c}").format(v=value, c=sql.Identifier(f"{name}__type")),
            sql.SQL("CASE WHEN jsonb_typeof({v}) = 'string' THEN e.payload ->> {n} END AS {c}").format(
                v=value, n=sql.Literal(name), c=sql.Identifier(f"{name}__text")),
            sql.SQL("CASE WHEN jsonb_typeof({v}) = 'number' THEN (e.payload ->> {n})::numeric END AS {c}").format(
                v=value, n=sql.Literal(name), c=sql.Identifier(f"{name}__number")),
        ]
    return fill_statement(RAW_VIEW, sql.SQL("""SELECT
    e.event_id, e.type, e.source, e.occurred_at, e.received_at,
    extract(epoch FROM e.received_at - e.occurred_at) AS arrival_delay_seconds,
    {event_id_matches} AS event_id_matches,
    EXISTS (SELECT 1 FROM raw.event_ids AS l WHERE l.event_id = e.event_id AND l.occurred_at = e.occurred_at)
        AS in_ledger,
    {unknown_fields} AS unknown_fields,
    {player_state} AS player_state,
    {columns}
FROM raw.events AS e
WHERE e.received_at > {since}""").format(
        event_id_matches=_per_type(lambda c: sql.SQL("e.event_id = {} || (e.payload ->> {})").format(
            sql.Literal(c.event_id_prefix), sql.Literal(c.key_field)), default=sql.SQL("false")),
        unknown_fields=_per_type(_unknown_fields, default=sql.SQL("NULL")),
        player_state=_per_type(_player_state, default=sql.SQL("'unknown type'")),
        columns=sql.SQL(",\n    ").join(columns),
        since=since_literal(since),
    ))


def since_literal(since: datetime | None) -> sql.Composable:
    return sql.SQL("{}::timestamptz").format(sql.Literal(since)) if since else sql.SQL("'-infinity'::timestamptz")


def _per_type(expression, default: sql.Composable) -> sql.Composed:
    branches = [sql.SQL("WHEN {} THEN {}").format(sql.Literal(name), expression(c))
                for name, c in contracts().items()]
    return sql.SQL("CASE e.type {} ELSE {} END").format(sql.SQL(" ").join(branches), default)


def _unknown_fields(contract: Contract) -> sql.Composed:
    """The payload's keys outside the contract, comma-separated ('' when none)."""
    return sql.SQL("(SELECT coalesce(string_agg(k, ',' ORDER BY k), '') FROM jsonb_object_keys(e.payload) AS k"
                   " WHERE k <> ALL ({}::text[]))").format(sql.Literal(list(contract.schema["properties"])))


def _player_state(contract: Contract) -> sql.Composed:
    """'session' (a well-formed session is the player), 'anonymous' (a new anonymous player made at the door),
    'none' (the event names no session), 'deleted' (retention deleted the player: session null, no player), or
    'broken' (none of these: the row did not come through the door)."""
    if "session_id" not in contract.well_formed:
        return sql.SQL("CASE WHEN e.player_id IS NULL AND NOT e.is_anonymous THEN 'none' ELSE 'broken' END")
    return sql.SQL("""CASE
        WHEN e.payload ? 'session_id' AND e.payload ->> 'session_id' ~ {pattern}
             AND e.session_id = e.payload ->> 'session_id' AND e.player_id = e.session_id AND NOT e.is_anonymous
            THEN 'session'
        WHEN e.payload ? 'session_id' AND e.is_anonymous AND e.session_id IS NULL
             AND e.player_id = 'anon-' || e.event_id
            THEN 'anonymous'
        WHEN NOT e.payload ? 'session_id' AND e.player_id IS NULL AND NOT e.is_anonymous THEN 'none'
        WHEN e.payload -> 'session_id' = 'null' AND e.session_id IS NULL AND e.player_id IS NULL
             AND NOT e.is_anonymous
            THEN 'deleted'
        ELSE 'broken' END""").format(pattern=sql.Literal(contract.well_formed["session_id"].pattern))


def raw_rules() -> list[Rule]:
    rules = [
        Rule("known_type", "ExpectColumnValuesToBeInSet", "type", "critical", "type",
             {"value_set": sorted(contracts())}),
        # two rows with one id: the one the ledger does not know is quarantined by the next rule
        Rule("event_id_unique", "ExpectColumnValuesToBeUnique", "event_id", "critical", "event_id", quarantine=False),
        Rule("event_id_in_ledger", "ExpectColumnValuesToBeInSet", "in_ledger", "critical", "event_id",
             {"value_set": [True]}),
        Rule("event_id_from_its_key", "ExpectColumnValuesToBeInSet", "event_id_matches", "critical", "event_id",
             {"value_set": [True]}),
        Rule("no_unknown_fields", "ExpectColumnValuesToBeInSet", "unknown_fields", "critical", None,
             {"value_set": [""]}),
        Rule("inside_accepted_window", "ExpectColumnValuesToBeBetween", "arrival_delay_seconds", "critical",
             "timestamp", {"min_value": NEWEST_SECONDS, "max_value": OLDEST_SECONDS}),
        Rule("player_well_formed_or_anonymous", "ExpectColumnValuesToBeInSet", "player_state", "critical",
             "session_id", {"value_set": ["session", "anonymous", "none", "deleted"]}),
        # late but accepted: worth seeing (a device offline for hours), not an error
        Rule("arrived_within_an_hour", "ExpectColumnValuesToBeBetween", "arrival_delay_seconds", "warning",
             "timestamp", {"min_value": NEWEST_SECONDS, "max_value": LATE_ARRIVAL_SECONDS}),
    ]
    for contract in contracts().values():
        rules += contract_rules(contract)
    return rules


def contract_rules(contract: Contract) -> list[Rule]:
    """Required fields present, JSON types, and each property's pattern, length, enum and bounds."""
    rules = []
    for name, spec in contract.schema["properties"].items():
        prefix = f"{contract.type}.{name}"
        if name in contract.schema["required"]:
            rules.append(Rule(f"{prefix}.required", "ExpectColumnValuesToNotBeNull", f"{name}__type", "critical",
                              name, event_type=contract.type))
        if allowed := json_types(spec):
            rules.append(Rule(f"{prefix}.type", "ExpectColumnValuesToBeInSet", f"{name}__type", "critical", name,
                              {"value_set": allowed}, contract.type))
        if "pattern" in spec and "x-well-formed" not in spec:
            rules.append(Rule(f"{prefix}.pattern", "ExpectColumnValuesToMatchRegex", f"{name}__text", "critical",
                              name, {"regex": spec["pattern"]}, contract.type))
        if "minLength" in spec or "maxLength" in spec:
            rules.append(Rule(f"{prefix}.length", "ExpectColumnValueLengthsToBeBetween", f"{name}__text",
                              "critical", name, {"min_value": spec.get("minLength"),
                                                 "max_value": spec.get("maxLength")}, contract.type))
        if "enum" in spec:
            rules.append(Rule(f"{prefix}.enum", "ExpectColumnValuesToBeInSet", f"{name}__text", "critical", name,
                              {"value_set": [v for v in spec["enum"] if isinstance(v, str)]}, contract.type))
        if "minimum" in spec or "maximum" in spec:
            rules.append(Rule(f"{prefix}.bounds", "ExpectColumnValuesToBeBetween", f"{name}__number", "critical",
                              name, {"min_value": spec.get("minimum"), "max_value": spec.get("maximum")},
                              contract.type))
    return rules
