"""Where a build of the core models began reading raw.events: an incremental mart picks up ARRIVAL_OVERLAP
before the newest arrival it holds (dbt_project/macros/incremental_windows.sql), so the rows that can have
failed it are the ones that arrived since."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from ingest_api.contracts import ARRIVAL_OVERLAP

#: The column a mart records its rows' arrival in (rows_to_rebuild's this_arrival_column, else received_at).
ARRIVAL_COLUMNS = ("last_received_at", "received_at")


def read_from(conn: psycopg.Connection, manifest: Mapping[str, Any], unique_id: str,
              built: list[str]) -> datetime | None:
    """For an incremental mart, its own starting point; for any other node (a view, a test), the earliest of the
    build's incremental marts. None: from the first row (a mart that is new, empty or keeps no arrival time)."""
    nodes = manifest["nodes"]
    node = nodes[unique_id]
    marts = [node] if _incremental(node) else [nodes[u] for u in built if u in nodes and _incremental(nodes[u])]
    newest = [newest_arrival(conn, mart) for mart in marts]
    if not newest or None in newest:
        return None
    return min(newest) - ARRIVAL_OVERLAP


def newest_arrival(conn: psycopg.Connection, node: Mapping[str, Any]) -> datetime | None:
    column = arrival_column(node)
    relation = sql.Identifier(node["schema"], node.get("alias") or node["name"])
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                          (relation.as_string(conn),)).fetchone()[0]
    if column is None or not exists:
        return None
    return conn.execute(sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(column), relation)).fetchone()[0]


def arrival_column(node: Mapping[str, Any]) -> str | None:
    return next((name for name in ARRIVAL_COLUMNS if name in node.get("columns", {})), None)


def _incremental(node: Mapping[str, Any]) -> bool:
    return node.get("resource_type") == "model" and node.get("config", {}).get("materialized") == "incremental"
