"""The raw rules come from the contracts: every required field, type, pattern and bound the door enforces."""

import psycopg

from ingest_api.contracts import contracts
from orchestration.quality.raw_rules import json_types, raw_rules, view_sql


def by_name():
    return {rule.name: rule for rule in raw_rules()}


def test_every_required_field_of_every_contract_has_a_critical_rule():
    rules = by_name()
    for contract in contracts().values():
        for field in contract.schema["required"]:
            rule = rules[f"{contract.type}.{field}.required"]
            assert (rule.severity, rule.event_type, rule.column) == ("critical", contract.type, f"{field}__type")


def test_types_patterns_and_bounds_follow_the_schema():
    rules = by_name()
    assert rules["game_end.duration.type"].options == {"value_set": ["number"]}
    assert rules["game_end.duration.bounds"].options == {"min_value": 0, "max_value": 99999999999}
    assert rules["game_start.session_id.type"].options == {"value_set": ["null", "string"]}
    assert "game_start.session_id.pattern" not in rules  # malformed sessions are accepted as anonymous players
    assert rules["move.event_id.pattern"].options == {"regex": "^[A-Za-z0-9_-]{1,64}$"}
    assert rules["agent_run.status.enum"].options["value_set"] == ["succeeded", "failed", "cancelled", "completed"]
    assert json_types({"anyOf": [{"type": "string"}, {"type": "integer"}]}) == ["number", "string"]


def test_severity_is_explicit_and_only_row_rules_quarantine():
    rules = raw_rules()
    assert {rule.severity for rule in rules} == {"critical", "warning"}
    assert [r.name for r in rules if r.severity == "warning"] == ["arrived_within_an_hour"]
    assert [r.name for r in rules if not r.quarantine] == ["event_id_unique"]


def test_the_view_compiles_on_the_database(database_url):
    with psycopg.connect(database_url) as conn, conn.transaction(force_rollback=True):
        conn.execute(view_sql(None))
        columns = {row[0] for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'quality'"
            " AND table_name = 'raw_events_to_validate'")}
    assert {"game_id__type", "duration__number", "run_id__text", "player_state", "in_ledger"} <= columns
