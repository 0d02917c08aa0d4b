"""The row finder: which raw rows make a failed dbt node fail on their own, through the node's own SQL (a view
inlined, raw.events narrowed to candidates, the contract's table), against a real PostgreSQL. The manifest is
written here the way dbt writes it, so each kind of failure can be made on purpose."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from orchestration.dbt.probe import probe_for
from orchestration.dbt.row_finder import CHUNK_ROWS, MAX_ROWS, NotCausedByRows, bisect, find_bad_rows
from orchestration.dbt.translator import RAW_EVENTS_SOURCE

NOW = datetime.now(UTC).replace(microsecond=0)
GOOD_ROWS = 10_000
STAGING = "model.monkeytown.stg_things"
MART = "model.monkeytown.things"


def manifest(url: str, mart_sql: str = "select event_id, amount, received_at from {view}\n-- ends in a comment",
             view_sql: str = "select event_id, (payload ->> 'amount')::numeric as amount, received_at"
                             " from {raw} where type = 'move' and payload ->> 'note' like '%{{x}}%'") -> dict:
    """A view that casts a payload field and a mart whose contract is numeric(5,2), not null, not negative, as
    `dbt build` leaves them in its manifest.json: compiled SQL naming relations in full."""
    database = conninfo_to_dict(url)["dbname"]
    raw, view = f'"{database}"."raw"."events"', f'"{database}"."staging"."stg_things"'
    return {
        "sources": {RAW_EVENTS_SOURCE: {"relation_name": raw}},
        "nodes": {
            STAGING: {"name": "stg_things", "resource_type": "model", "schema": "staging", "alias": "stg_things",
                      "config": {"materialized": "view"}, "relation_name": view, "columns": {},
                      "depends_on": {"nodes": [RAW_EVENTS_SOURCE]},
                      "compiled_code": view_sql.format(raw=raw)},
            MART: {"name": "things", "resource_type": "model", "schema": "marts", "alias": "things",
                   "config": {"materialized": "incremental"}, "relation_name": f'"{database}"."marts"."things"',
                   "depends_on": {"nodes": [STAGING]}, "compiled_code": mart_sql.format(view=view),
                   "contract": {"enforced": True}, "constraints": [],
                   "columns": {"event_id": {"data_type": "text", "constraints": [{"type": "primary_key"}]},
                               "amount": {"data_type": "numeric(5,2)", "constraints": [
                                   {"type": "not_null"}, {"type": "check", "expression": "amount >= 0"}]},
                               "received_at": {"data_type": "timestamp with time zone", "constraints": []}}},
        },
    }


def land(url: str, count: int, received_at: datetime = NOW, prefix: str = "good") -> None:
    """`count` rows straight into raw.events, each with an amount the mart holds."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO raw.events (event_id, type, contract_version, occurred_at, received_at, source, payload)"
            " SELECT %(prefix)s || n, 'move', 1, %(at)s, %(at)s, 'client',"
            "        jsonb_build_object('amount', n %% 1000 / 10.0, 'note', '{x}')"
            " FROM generate_series(1, %(count)s) AS n", {"prefix": prefix, "count": count, "at": received_at})


def land_one(url: str, event_id: str, payload: str, received_at: datetime = NOW) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO raw.events (event_id, type, contract_version, occurred_at, received_at, source,"
                     " payload) VALUES (%s, 'move', 1, %s, %s, 'client', %s)",
                     (event_id, received_at, received_at, payload))


@pytest.fixture
def url(make_database):
    return make_database()


def every_row(conn, unique_id):
    return None


def test_each_row_that_breaks_the_node_alone_is_found_with_its_own_error(url):
    land(url, GOOD_ROWS // 2)
    land_one(url, "not-a-number", '{"amount": "twelve", "note": "{x}"}')  # the view's cast
    land_one(url, "too-big", '{"amount": 123456, "note": "{x}"}')  # fits numeric, not the contract's numeric(5,2)
    land_one(url, "missing", '{"note": "{x}"}')  # the contract's not-null
    land_one(url, "negative", '{"amount": -5, "note": "{x}"}')  # the contract's check
    land(url, GOOD_ROWS // 2, prefix="more")
    [search] = find_bad_rows(url, manifest(url), [MART], every_row)
    assert search.relation == "marts.things"
    assert search.candidates == GOOD_ROWS + 4
    assert {row.event_id: row.error for row in search.rows} == {
        "not-a-number": 'invalid input syntax for type numeric: "twelve"',
        "too-big": "numeric field overflow",
        "missing": 'null value in column "amount" of relation "things" violates not-null constraint',
        "negative": 'new row for relation "things" violates check constraint "things_amount_check"',
    }
    assert search.unexplained is None
    # the empty probe, a probe per chunk, and two per level of halving for each bad row
    chunks = math.ceil(search.candidates / CHUNK_ROWS)
    assert search.statements <= 1 + chunks + 4 * 2 * math.ceil(math.log2(CHUNK_ROWS))
    with psycopg.connect(url) as conn:  # it only looked
        assert conn.execute("SELECT count(*) FROM raw.events").fetchone()[0] == GOOD_ROWS + 4


def test_only_the_rows_the_build_read_are_candidates(url):
    land(url, 100, received_at=NOW - timedelta(hours=2), prefix="old")
    land_one(url, "old-and-bad", '{"amount": "x", "note": "{x}"}', received_at=NOW - timedelta(hours=2))
    land(url, 50)
    [search] = find_bad_rows(url, manifest(url), [MART], lambda conn, unique_id: NOW - timedelta(minutes=10))
    assert (search.candidates, search.rows) == (50, [])


def test_a_view_is_probed_by_computing_every_column(url):
    land(url, 20)
    land_one(url, "bad", '{"amount": "x", "note": "{x}"}')
    [search] = find_bad_rows(url, manifest(url), [STAGING], every_row)
    assert [row.event_id for row in search.rows] == ["bad"]


def test_a_test_of_a_view_is_probed_and_names_the_view(url):
    land(url, 20)
    land_one(url, "bad", '{"amount": "x", "note": "{x}"}')
    found = manifest(url)
    database = conninfo_to_dict(url)["dbname"]
    found["nodes"]["test.monkeytown.not_null_stg_things_amount.0a1b"] = {
        "name": "not_null_stg_things_amount", "resource_type": "test", "schema": "dbt_test__audit",
        "config": {"materialized": "test"}, "attached_node": STAGING, "depends_on": {"nodes": [STAGING]},
        "compiled_code": f'select amount from "{database}"."staging"."stg_things" where amount is null', "columns": {}}
    [search] = find_bad_rows(url, found, ["test.monkeytown.not_null_stg_things_amount.0a1b"], every_row)
    assert search.relation == "staging.stg_things"
    assert [row.event_id for row in search.rows] == ["bad"]


def test_a_failure_without_any_row_finds_nothing(url):
    land(url, 20)
    broken = manifest(url, mart_sql="select event_id, 'x'::numeric as amount, received_at from {view}")
    [search] = find_bad_rows(url, broken, [MART], every_row)
    assert search.rows == [] and "without reading a single row" in search.unexplained


def test_a_failure_that_is_not_about_data_finds_nothing(url):
    land(url, 20)
    land_one(url, "bad", '{"amount": "x", "note": "{x}"}')
    broken = manifest(url, mart_sql="select event_id, amount, received_at from {view} join marts.nowhere"
                                     " using (event_id)")
    [search] = find_bad_rows(url, broken, [MART], every_row)
    assert search.rows == [] and search.unexplained.startswith("not a data error: relation")


def test_rows_that_fail_only_together_are_none_of_them_named(url):
    land(url, 3)  # amounts 0.1, 0.2 and 0.3: times 100,000 each fits a smallint, 0.2 and 0.3 together do not
    adding_up = manifest(url, mart_sql="select max(event_id) as event_id, (sum(amount) * 100000)::smallint / 10000.0"
                                       " as amount, max(received_at) as received_at from {view} having count(*) > 0")
    [search] = find_bad_rows(url, adding_up, [MART], every_row)
    assert search.rows == [] and "fail together" in search.unexplained


def test_a_node_that_does_not_read_raw_events_is_not_searched(url):
    found = manifest(url)
    found["nodes"][MART]["depends_on"]["nodes"] = []
    assert probe_for(found, MART, ["event_id"]) is None
    assert find_bad_rows(url, found, [MART], every_row) == []


# --- the search itself, without a database ------------------------------------------------------------------


def probe_over(bad: set[int], calls: list):
    def probe(first: int, stop: int) -> str | None:
        calls.append((first, stop))
        hit = sorted(bad & set(range(first, stop)))
        return f"row {hit[0]} is bad" if hit else None

    return probe


def test_halving_finds_one_bad_row_among_ten_thousand_in_logarithmic_probes():
    calls = []
    found = bisect(10_000, probe_over({7_777}, calls))
    assert found.positions == {7_777: "row 7777 is bad"}
    assert found.probes == len(calls) <= 1 + 2 + 2 * math.ceil(math.log2(CHUNK_ROWS))


def test_halving_finds_every_bad_row_of_a_chunk_each_with_its_error():
    found = bisect(9_000, probe_over({0, 1, 4_999, 5_000, 8_999}, []))
    assert found.positions == {n: f"row {n} is bad" for n in (0, 1, 4_999, 5_000, 8_999)}


def test_more_bad_rows_than_the_limit_names_none():
    found = bisect(1_000, probe_over(set(range(0, 1_000, 3)), []))
    assert found.positions == {}
    assert f"more than {MAX_ROWS} rows" in found.unexplained


def test_a_probe_that_fails_on_no_rows_stops_the_search():
    with pytest.raises(NotCausedByRows):
        bisect(10, lambda first, stop: "always")
