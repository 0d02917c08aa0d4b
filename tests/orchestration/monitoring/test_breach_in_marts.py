"""A breach recorded by a monitoring check is a system event like the others: dbt carries it to
marts.system_events, where BI tools and the dashboard read it."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from orchestration.monitoring.assets import error_rate
from orchestration.monitoring.checks import MONITORING_CHECKS
from tests.dbt.test_staging import monkeytown_dbt
from tests.orchestration.monitoring.conftest import arrive, run


def test_a_check_breach_reaches_marts_system_events(conn, monitoring_url):
    arrive(conn, accepted=9, refused=1, received_at=datetime.now(UTC) - timedelta(minutes=1))
    (error_rate_check,) = [c for c in MONITORING_CHECKS if next(iter(c.check_keys)).name == "error_rate"]
    result = run(dg.DagsterInstance.ephemeral(), monitoring_url, error_rate, error_rate_check)

    built = monkeytown_dbt(monitoring_url, "build", "--select", "+system_events")

    assert built.returncode == 0, built.stdout[-3000:]
    assert conn.execute("SELECT event_data->>'check', (event_data->>'value')::float, event_data->>'run_id'"
                        " FROM marts.system_events WHERE event_type = 'check_breach'").fetchall() == [
        ("error_rate", 0.1, result.run_id)]
