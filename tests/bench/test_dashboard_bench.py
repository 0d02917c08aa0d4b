"""The dashboard benchmark at a tiny size: it starts its own stack, fills the marts, the monitoring and the live
tables, and reports every endpoint, every statement and each goal with a verdict that follows its figure. Nothing
here judges a timing (the machine is shared); the benchmark does that."""

from __future__ import annotations

import re

import pytest

from bench.dashboard import ENDPOINTS, STATEMENTS, markdown, run

REQUESTS = 5


@pytest.fixture(scope="module")
def result():
    return run(events=3000, days=3, requests_each=REQUESTS, rounds=1, seed=7, keep_home=False)


def test_every_endpoint_and_statement_is_measured_on_filled_tables(result):
    assert set(result["http"]["endpoints"]) == set(ENDPOINTS)
    assert all(figures["count"] == REQUESTS for r in result["http"]["rounds"] for figures in r["endpoints"].values())
    assert set(result["statements"]) == set(STATEMENTS)
    assert result["data"]["events"] > 0 and result["marts"]["rows"]["games"] > 0
    assert result["live"]["counts"] > 8 * 3600 and result["live"]["games"] > 100_000
    assert result["monitoring"]["measurements"] > 0


def test_each_goal_has_the_verdict_its_figure_gives(result):
    text = markdown(result)
    goals = re.findall(r"^\| [^|]+ \| p(\d+) <= (\d+) ms \| p\1 ([\d.]+) ms[^|]*\| (met|\*\*MISSED\*\*) \|$", text,
                       re.MULTILINE)
    assert len(goals) == 3, text
    for _, target, measured, verdict in goals:
        assert (verdict == "met") == (float(measured) <= float(target))
