"""A database of the monitoring tests' own (its live counters, errors and measurements are theirs alone), events
landed through the door's write path at chosen arrival times, and Dagster runs on an ephemeral instance."""

from datetime import datetime

import dagster as dg
import orjson
import psycopg
import pytest

from ingest_api.door import LandingRow, admit
from ingest_api.landing import LandingJob, Provenance, land
from orchestration.monitoring.resources import MonitoringResource
from orchestration.shared.warehouse import WarehouseResource
from tests.ingest_api.factories import game_start, move

TABLES = ("raw.events, raw.event_ids, raw.ingest_errors, live.counts, live.games, live.sessions, "
          "monitoring.measurements, monitoring.latest_checks, monitoring.latest_materializations, "
          "monitoring.recent_runs")


@pytest.fixture(scope="module")
def monitoring_url(make_database):
    return make_database()


@pytest.fixture
def conn(monitoring_url):
    with psycopg.connect(monitoring_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES}")
        yield conn


def arrive(conn: psycopg.Connection, accepted: int, refused: int, received_at: datetime) -> None:
    """`accepted` valid game starts and `refused` moves without their move_type, offered at `received_at`."""
    events = [game_start(game_id=f"g{n}", session_id=f"s{n}") for n in range(accepted)]
    events += [move(move_type=None) for _ in range(refused)]
    verdicts = [admit(event, received_at, serialized=orjson.dumps(event)) for event in events]
    rows = [v for v in verdicts if isinstance(v, LandingRow)]
    assert len(rows) == accepted
    land(conn, [LandingJob(rows, [v for v in verdicts if not isinstance(v, LandingRow)], Provenance())])


def resources(url: str, api_metrics_url: str | None = None) -> dict:
    return {"warehouse": WarehouseResource(conninfo=url),
            "monitoring": MonitoringResource(api_metrics_url=api_metrics_url)}


def run(instance: dg.DagsterInstance, url: str, *definitions, api_metrics_url: str | None = None):
    return dg.materialize(list(definitions), instance=instance, resources=resources(url, api_metrics_url),
                          raise_on_error=False)


def evaluation(result, check_name: str):
    (found,) = [e for e in result.get_asset_check_evaluations() if e.check_name == check_name]
    return found


def breaches(conn: psycopg.Connection) -> list[dict]:
    return [row[0] for row in conn.execute(
        "SELECT payload::jsonb -> 'event_data' FROM raw.events WHERE type = 'check_breach' ORDER BY event_id")]


def measurements(conn: psycopg.Connection, metric: str) -> list[float]:
    return [row[0] for row in conn.execute(
        "SELECT value FROM monitoring.measurements WHERE metric = %s ORDER BY measured_at", (metric,))]
