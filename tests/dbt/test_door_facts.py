"""The dbt project states some of the door's facts again, where dbt must read them as yml: each must equal the
contracts' own (ingest_api.contracts), so changing one without the other fails here."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ingest_api.contracts import contracts, dbt_vars

DBT_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"


def _yml(relative: str) -> dict:
    return yaml.safe_load((DBT_PROJECT / relative).read_text())


def _accepted_values(columns: list[dict], name: str) -> set[str]:
    column = next(c for c in columns if c["name"] == name)
    test = next(t["accepted_values"] for t in column["data_tests"] if isinstance(t, dict) and "accepted_values" in t)
    return set(test["arguments"]["values"])


def test_the_project_vars_are_the_contracts_time_window_and_overlap():
    declared = _yml("dbt_project.yml")["vars"]
    assert {name: declared[name] for name in dbt_vars()} == dbt_vars()


def test_no_macro_or_model_gives_those_vars_a_default_of_its_own():
    names = "|".join(dbt_vars())
    defaulted = re.compile(rf"""var\(\s*["']({names})["']\s*,""")
    offenders = [str(path.relative_to(DBT_PROJECT)) for folder in ("macros", "models")
                 for path in (DBT_PROJECT / folder).rglob("*.sql") if defaulted.search(path.read_text())]
    assert offenders == []


def test_the_raw_events_types_are_the_contracts():
    sources = _yml("models/staging/raw/_raw__sources.yml")["sources"]
    events = next(t for s in sources if s["name"] == "raw" for t in s["tables"] if t["name"] == "events")
    assert _accepted_values(events["columns"], "type") == set(contracts())


def test_the_agent_run_statuses_are_the_contracts_less_the_alias_the_model_maps():
    marts = _yml("models/marts/_marts__models.yml")["models"]
    agent_runs = next(m for m in marts if m["name"] == "agent_runs")
    statuses = set(contracts()["agent_run"].schema["properties"]["status"]["enum"])
    mapped = (DBT_PROJECT / "models/marts/agent_runs.sql").read_text()
    assert "when 'completed' then 'succeeded'" in mapped  # the alias, stored as what it means
    assert _accepted_values(agent_runs["columns"], "status") == statuses - {"completed"}


#: (contract, field) -> (marts model, column): a number the door accepts must fit the column the mart stores it in.
STORED_IN = {
    ("game_end", "duration"): ("games", "duration_seconds"),
    ("agent_run", "duration_seconds"): ("agent_runs", "duration_seconds"),
    ("agent_run", "files_created"): ("agent_runs", "files_created"),
    ("agent_run", "files_modified"): ("agent_runs", "files_modified"),
    ("agent_run", "run_attempt"): ("agent_runs", "run_attempt"),
}


def _largest(data_type: str) -> float:
    if data_type == "integer":
        return 2**31 - 1
    precision, scale = map(int, re.fullmatch(r"numeric\((\d+),\s*(\d+)\)", data_type).groups())
    return 10 ** (precision - scale) - 1  # and fractions below the next integer, which would round up


def test_every_number_the_door_accepts_fits_the_mart_column_it_lands_in():
    marts = {m["name"]: m for m in _yml("models/marts/_marts__models.yml")["models"]}
    for (event_type, field), (model, column) in STORED_IN.items():
        spec = contracts()[event_type].schema["properties"][field]
        data_type = next(c["data_type"] for c in marts[model]["columns"] if c["name"] == column)
        assert spec.get("maximum") is not None and spec["maximum"] <= _largest(data_type), (event_type, field)

