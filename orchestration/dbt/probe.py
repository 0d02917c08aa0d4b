"""The statement that asks "does this node fail on these raw rows?": the node's SQL as the failed dbt build
compiled it, with the views upstream of it inlined and raw.events narrowed to a range of candidate rows, written
into a temporary table of the node's contract (its types and not-null columns) as dbt writes the mart. Built
from the build's own manifest, no Dagster or database here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from orchestration.dbt.translator import RAW_EVENTS_SOURCE

#: The temporary table a probe reads (raw.events' columns and a position; it writes a temporary table named as
#: the node, so an error names it as the build's did), and the name raw.events goes by in a probe.
CANDIDATES = "poison_candidates"
SOURCE = "__probe_raw_events"
#: Relations that are their SQL: a probe inlines them (dbt inlines ephemeral models itself); a table upstream is
#: read as it stands.
INLINED = ("view",)
NOT_NULL = ("not_null", "primary_key")


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    not_null: bool
    checks: tuple[str, ...] = ()  # the contract's check expressions on this column


@dataclass(frozen=True)
class Probe:
    unique_id: str
    relation: str  # schema.name, for people (a test's: its model's)
    name: str  # the node's relation without its schema: the contract's temporary table
    raw_columns: tuple[str, ...]  # raw.events' columns, which the candidates table holds too
    views: tuple[tuple[str, str], ...]  # (name, compiled SQL) of each inlined upstream, each after what it reads
    body: str  # the node's compiled SQL, reading raw.events and the inlined views by their names
    contract: tuple[Column, ...]  # empty: no enforced contract; then every column is computed and counted
    checks: tuple[str, ...] = ()  # the contract's check expressions on the whole row


def probe_for(manifest: Mapping[str, Any], unique_id: str, raw_columns: list[str]) -> Probe | None:
    """None when the node does not read raw.events (then no raw row can be what breaks it) or its SQL or an
    upstream view's was not compiled in this build."""
    node = manifest["nodes"][unique_id]
    order = _upstream_in_order(manifest, unique_id)
    if RAW_EVENTS_SOURCE not in order or not node.get("compiled_code"):
        return None
    names = {manifest["sources"][RAW_EVENTS_SOURCE]["relation_name"]: _quoted(SOURCE)}
    views = []
    for upstream in order:
        props = manifest["nodes"].get(upstream)
        if props is None or props["config"].get("materialized") not in INLINED:
            continue
        if not props.get("compiled_code"):
            return None
        # the views before it are renamed in its SQL first: a view reads only what comes before it in `order`
        views.append((_quoted(f"__probe_{props['name']}"), _renamed(props["compiled_code"], names)))
        names[props["relation_name"]] = views[-1][0]
    name = node.get("alias") or node["name"]
    return Probe(unique_id, _relation(manifest, node), name, tuple(raw_columns), tuple(views),
                 _renamed(node["compiled_code"], names), _contract(node), _checks(node.get("constraints", [])))


def probe_statement(probe: Probe, first: int, stop: int) -> sql.Composed:
    """The node's SQL over the candidates at positions [first, stop): an INSERT into the contract's table, or
    a count of whole rows (so every column is computed). The compiled SQL is dbt's, from this project."""
    source = sql.SQL("{name} AS NOT MATERIALIZED (SELECT {columns} FROM pg_temp.{candidates}"
                     " WHERE probe_position >= {first} AND probe_position < {stop})").format(
        name=sql.SQL(_quoted(SOURCE)), columns=sql.SQL(", ").join(map(sql.Identifier, probe.raw_columns)),
        candidates=sql.Identifier(CANDIDATES), first=sql.Literal(first), stop=sql.Literal(stop))
    # line breaks after dbt's SQL: it may end in a -- comment
    views = [sql.SQL(name) + sql.SQL(" AS NOT MATERIALIZED (\n") + sql.SQL(text) + sql.SQL("\n)")
             for name, text in probe.views]
    head = sql.SQL("WITH ") + sql.SQL(",\n").join([source, *views]) + sql.SQL("\n")
    subquery = sql.SQL("(\n") + sql.SQL(probe.body) + sql.SQL("\n) AS model_subq")
    if not probe.contract:
        return head + sql.SQL("SELECT count(model_subq.*) FROM ") + subquery
    columns = sql.SQL(", ").join(sql.Identifier(column.name) for column in probe.contract)
    return (head + sql.SQL("INSERT INTO pg_temp.{target} ({columns}) SELECT {columns} FROM ").format(
        target=sql.Identifier(probe.name), columns=columns) + subquery)


def target_table_statement(probe: Probe) -> sql.Composed | None:
    """The temporary table the node's contract describes, as dbt creates the mart: types, not-null columns and
    checks (the expressions are the project's own); what no single row can break, as a key's uniqueness, is left
    out."""
    if not probe.contract:
        return None
    elements = [sql.SQL("{name} {type}{null}").format(
        name=sql.Identifier(column.name), type=sql.SQL(column.data_type),
        null=sql.SQL(" NOT NULL" if column.not_null else "")) + sql.SQL("").join(
        sql.SQL(f" CHECK ({check})") for check in column.checks) for column in probe.contract]
    elements += [sql.SQL(f"CHECK ({check})") for check in probe.checks]
    return sql.SQL("CREATE TEMPORARY TABLE {target} ({elements}) ON COMMIT DROP").format(
        target=sql.Identifier(probe.name), elements=sql.SQL(", ").join(elements))


def _upstream_in_order(manifest: Mapping[str, Any], unique_id: str) -> list[str]:
    """Every node and source the node reads, directly or not, each after what it reads."""
    seen: dict[str, None] = {}

    def visit(node_id: str) -> None:
        for parent in manifest["nodes"].get(node_id, {}).get("depends_on", {}).get("nodes", []):
            if parent not in seen:
                visit(parent)
                seen[parent] = None

    visit(unique_id)
    return list(seen)


def _renamed(code: str, names: Mapping[str, str]) -> str:
    for relation, name in names.items():
        code = code.replace(relation, name)
    return code


def _contract(node: Mapping[str, Any]) -> tuple[Column, ...]:
    if not node.get("contract", {}).get("enforced"):
        return ()
    not_null = {name for constraint in node.get("constraints", []) if constraint["type"] in NOT_NULL
                for name in constraint.get("columns", [])}
    return tuple(Column(name, props["data_type"],
                        name in not_null or any(c["type"] in NOT_NULL for c in props.get("constraints", [])),
                        _checks(props.get("constraints", [])))
                 for name, props in node["columns"].items())


def _checks(constraints: list[dict]) -> tuple[str, ...]:
    return tuple(constraint["expression"] for constraint in constraints
                 if constraint["type"] == "check" and constraint.get("expression"))


def _relation(manifest: Mapping[str, Any], node: Mapping[str, Any]) -> str:
    """schema.name of the node, or of the model a test tests (what the rows break when it is read)."""
    tested = manifest["nodes"].get(node.get("attached_node") or "") if node["resource_type"] == "test" else None
    node = tested or node
    return f"{node['schema']}.{node.get('alias') or node['name']}"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
