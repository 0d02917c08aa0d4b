"""raw.events split by family within each day: retention drops one family's day (its rows and their ledger ids)
and nothing else; migration 0006 converts a database of the old layout without losing a row."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from ingest_api import migrate
from ingest_api.contracts import AGENT_RUNS_ENDPOINT, RefusalReason, contracts
from ingest_api.door import LandingRow, admit
from ingest_api.landing import LandingJob, Provenance, land
from tests.ingest_api.factories import agent_run, game_end, game_start, move

FAMILIES = ("ci", "client", "server")
DAY = date(2025, 6, 2)
NEXT_DAY = DAY + timedelta(days=1)


def _noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


def _system_event(event_type: str, event_data: dict) -> dict:
    return {"event_id": f"{event_type}-{uuid.uuid4().hex}", "type": event_type, "event_data": event_data}


def land_every_family(url: str, day: date, *, write_path: bool = True) -> dict[str, set[str]]:
    """Game events, an agent run and system events of `day`, through the door and the write path (or, for a
    database at an older migration than the write path needs, inserted as they would land); their ids by
    source."""
    received_at = _noon(day)
    verdicts = [admit(event, received_at) for event in (game_start(), move(), game_end())]
    verdicts.append(admit(agent_run(), received_at, endpoint=AGENT_RUNS_ENDPOINT))
    verdicts += [admit(event, received_at, endpoint=None) for event in (
        _system_event("server_start", {"version": "9.9.9", "pid": 1, "host": "h", "workers": 2}),
        _system_event("process_restart", {"process": "api", "exit_code": 1, "recent_crashes": 1,
                                          "action": "restarted", "backoff_seconds": 1.0}),
    )]
    assert all(isinstance(v, LandingRow) for v in verdicts), [v.message for v in verdicts if hasattr(v, "reason")]
    with psycopg.connect(url, autocommit=True) as conn:
        # landing remembers the days it made per process, across the session's databases
        conn.execute("SELECT raw.ensure_events_partition(%s)", (day,))
        if write_path:
            [outcome] = land(conn, [LandingJob(verdicts, [], Provenance())])
            assert outcome.statuses == ["accepted"] * len(verdicts)
        else:
            _insert_as_landed(conn, verdicts)
    ids: dict[str, set[str]] = {}
    for verdict in verdicts:
        ids.setdefault(verdict.source, set()).add(verdict.event_id)
    return ids


def _insert_as_landed(conn: psycopg.Connection, verdicts: list[LandingRow]) -> None:
    """The rows the write path would store for `verdicts`, inserted directly (the ledger, then the events)."""
    for v in verdicts:
        conn.execute("INSERT INTO raw.event_ids (event_id, occurred_at, received_at, payload_hash)"
                     " VALUES (%s, %s, %s, %s)", (v.event_id, v.occurred_at, v.received_at, v.payload_hash))
        conn.execute("INSERT INTO raw.events (event_id, type, contract_version, occurred_at, client_timestamp,"
                     " sent_at, received_at, session_id, player_id, is_anonymous, game_id, source, payload)"
                     " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)",
                     (v.event_id, v.type, v.contract_version, v.occurred_at, v.client_timestamp, v.sent_at,
                      v.received_at, v.session_id, v.player_id, v.is_anonymous, v.game_id, v.source, v.payload))


def events(conn: psycopg.Connection) -> list[dict]:
    return conn.cursor(row_factory=dict_row).execute("SELECT * FROM raw.events ORDER BY event_id").fetchall()


def ledger(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute("SELECT * FROM raw.event_ids ORDER BY event_id").fetchall()


def family_days(conn: psycopg.Connection) -> dict[tuple[str, date], int]:
    return {(family, day): rows for family, day, _, rows in conn.execute("SELECT * FROM raw.family_days()")}


def drop_family_day(conn: psycopg.Connection, family: str, day: date) -> int:
    return conn.execute("SELECT raw.drop_family_day(%s, %s)", (family, day)).fetchone()[0]


@pytest.fixture
def url(make_database):
    return make_database()


@pytest.fixture
def conn(url):
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


def test_each_family_of_a_day_lands_in_a_table_of_its_own(url, conn):
    ids = land_every_family(url, DAY)
    stored = conn.execute("SELECT tableoid::regclass::text, source, event_id FROM raw.events").fetchall()
    assert {(table, source) for table, source, _ in stored} == {
        (f"raw.events_{DAY:%Y%m%d}_{source}", source) for source in FAMILIES}
    assert {source: {i for _, s, i in stored if s == source} for source in FAMILIES} == ids
    counts = family_days(conn)
    assert {key: rows for key, rows in counts.items() if key[1] == DAY} == {
        ("ci", DAY): 1, ("client", DAY): 3, ("server", DAY): 2, ("default", DAY): 0}
    assert sum(counts.values()) == len(stored)


@pytest.mark.parametrize("family", FAMILIES)
def test_dropping_a_family_day_leaves_every_other_family_and_day_row_for_row(url, conn, family):
    dropped_ids = land_every_family(url, DAY)[family]
    land_every_family(url, NEXT_DAY)
    kept = [row for row in events(conn) if row["event_id"] not in dropped_ids]
    kept_ledger = [row for row in ledger(conn) if row[0] not in dropped_ids]
    counts = family_days(conn)

    assert drop_family_day(conn, family, DAY) == len(dropped_ids) > 0

    assert events(conn) == kept
    assert ledger(conn) == kept_ledger
    assert not dropped_ids & {row[0] for row in ledger(conn)}
    del counts[(family, DAY)]
    assert family_days(conn) == counts


def test_a_drop_rolled_back_keeps_the_rows_and_their_ids(url, conn):
    land_every_family(url, DAY)
    before, before_ledger = events(conn), ledger(conn)
    with conn.transaction(force_rollback=True):
        assert drop_family_day(conn, "client", DAY) == 3
        assert len(events(conn)) == len(before) - 3
    assert (events(conn), ledger(conn)) == (before, before_ledger)


def test_a_drop_not_yet_committed_holds_up_neither_landing_nor_the_making_of_a_new_day(url, conn):
    land_every_family(url, DAY)
    later = _noon(NEXT_DAY + timedelta(days=30))
    with psycopg.connect(url, autocommit=True) as dropping, dropping.transaction(force_rollback=True):
        drop_family_day(dropping, "client", DAY)
        # bounded: a lock the drop held would make these fail within seconds instead of hanging
        with psycopg.connect(url, autocommit=True, options="-c lock_timeout=5000") as other:
            other.execute("SELECT raw.ensure_events_partition(%s)", (later.date(),))
            [outcome] = land(other, [LandingJob([admit(move(), later)], [], Provenance())])
            assert outcome.statuses == ["accepted"]


def test_a_day_or_family_table_that_does_not_exist_is_refused_and_nothing_changes(url, conn):
    land_every_family(url, DAY)
    before, before_ledger = events(conn), ledger(conn)
    with pytest.raises(psycopg.errors.UndefinedTable, match="no partition for day 1999-01-01"):
        drop_family_day(conn, "client", date(1999, 1, 1))
    with pytest.raises(psycopg.errors.UndefinedTable, match="no nonsense partition"):
        drop_family_day(conn, "nonsense", DAY)
    drop_family_day(conn, "server", DAY)
    with pytest.raises(psycopg.errors.UndefinedTable, match="already dropped"):
        drop_family_day(conn, "server", DAY)
    assert events(conn) == [row for row in before if row["source"] != "server"]
    assert len(ledger(conn)) == len(before_ledger) - 2


def test_a_drop_told_how_many_rows_the_archive_holds_refuses_any_other_number(url, conn):
    land_every_family(url, DAY)
    before, before_ledger = events(conn), ledger(conn)
    with pytest.raises(psycopg.errors.CardinalityViolation, match="holds 3 rows, not the 2 expected"):
        conn.execute("SELECT raw.drop_family_day('client', %s, 2)", (DAY,))
    assert (events(conn), ledger(conn)) == (before, before_ledger)
    assert conn.execute("SELECT raw.drop_family_day('client', %s, 3)", (DAY,)).fetchone()[0] == 3


def test_a_source_without_a_family_lands_in_the_days_default_table_which_drops_alone(url, conn):
    land_every_family(url, DAY)
    conn.execute("INSERT INTO raw.events (event_id, type, contract_version, occurred_at, received_at, source,"
                 " payload) VALUES ('odd1', 'odd', 1, %s, %s, 'elsewhere', '{}')", (_noon(DAY), _noon(DAY)))
    assert conn.execute("SELECT tableoid::regclass::text FROM raw.events WHERE event_id = 'odd1'").fetchone() == (
        f"raw.events_{DAY:%Y%m%d}_default",)
    others = [row for row in events(conn) if row["event_id"] != "odd1"]
    assert drop_family_day(conn, "default", DAY) == 1
    assert events(conn) == others


def test_an_event_of_a_dropped_day_sent_again_is_refused_at_the_door_as_stale(url, conn):
    event = move(timestamp=_noon(DAY).isoformat())
    conn.execute("SELECT raw.ensure_events_partition(%s)", (DAY,))
    land(conn, [LandingJob([admit(event, _noon(DAY))], [], Provenance())])
    drop_family_day(conn, "client", DAY)
    assert admit(event, _noon(DAY) + timedelta(days=90)).reason == RefusalReason.STALE


def test_the_families_are_the_sources_the_contracts_declare(conn):
    families = {row[0] for row in conn.execute("SELECT raw.event_families()")}
    assert families == {contract.source for contract in contracts().values()}


def test_the_key_holds_source_and_the_ledger_keeps_event_id_unique(conn):
    key = conn.execute(
        "SELECT array_agg(a.attname::text ORDER BY k.ord) FROM pg_constraint c"
        " CROSS JOIN unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)"
        " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum"
        " WHERE c.conrelid = 'raw.events'::regclass AND c.contype = 'p'").fetchone()[0]
    assert key == ["event_id", "occurred_at", "source"]


def _day_shapes(conn: psycopg.Connection) -> dict[str, list[str]]:
    """Each day partition of raw.events and its family tables."""
    rows = conn.execute(
        "SELECT d.relname::text, d.relkind::text, coalesce(array_agg(l.relname::text ORDER BY l.relname)"
        " FILTER (WHERE l.oid IS NOT NULL), '{}')"
        " FROM pg_inherits AS i JOIN pg_class AS d ON d.oid = i.inhrelid"
        " LEFT JOIN pg_inherits AS f ON f.inhparent = d.oid LEFT JOIN pg_class AS l ON l.oid = f.inhrelid"
        " WHERE i.inhparent = 'raw.events'::regclass GROUP BY 1, 2").fetchall()
    assert {kind for _, kind, _ in rows} == {"p"}, rows
    return {name: leaves for name, _, leaves in rows}


def test_migration_0006_converts_a_database_of_the_old_layout_without_losing_a_row(make_database):
    url = make_database(migrated=False)
    assert [m.version for m in migrate.upgrade(url, target=5)] == [1, 2, 3, 4, 5]
    # the write path of today needs later migrations (the live counters of 0007)
    landed = {day: land_every_family(url, day, write_path=False) for day in (DAY, NEXT_DAY)}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO raw.events (event_id, type, contract_version, occurred_at, received_at, source,"
                     " payload) VALUES ('odd1', 'odd', 1, %s, %s, 'elsewhere', '{}')", (_noon(DAY), _noon(DAY)))
        conn.execute("CREATE VIEW public.event_sources AS SELECT event_id, source FROM raw.events")  # as dbt's are
        old_days = {row[0] for row in conn.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'raw.events'::regclass")}
        before, before_ledger = events(conn), ledger(conn)

    assert [m.version for m in migrate.upgrade(url, target=6)] == [6]

    with psycopg.connect(url, autocommit=True) as conn:
        assert (events(conn), ledger(conn)) == (before, before_ledger)
        assert len(before) == 2 * 6 + 1
        shapes = _day_shapes(conn)
        assert {f"raw.{name}" for name in shapes} == old_days
        for name, leaves in shapes.items():
            assert leaves == sorted(f"{name}_{family}" for family in (*FAMILIES, "default"))
        stored = conn.execute("SELECT tableoid::regclass::text, occurred_at, source FROM raw.events").fetchall()
        for table, occurred_at, source in stored:
            family = source if source in FAMILIES else "default"
            assert table == f"raw.events_{occurred_at.astimezone(UTC):%Y%m%d}_{family}"
        assert conn.execute("SELECT count(*) FROM public.event_sources").fetchone()[0] == len(before)

        assert drop_family_day(conn, "client", DAY) == len(landed[DAY]["client"])
        assert events(conn) == [row for row in before if row["event_id"] not in landed[DAY]["client"]]

    # the write path still lands, and the ledger still refuses a copy of what raw.events holds
    migrate.upgrade(url)
    land_every_family(url, DAY)
    with psycopg.connect(url, autocommit=True) as conn:
        assert len(events(conn)) == len(before) - 3 + 6
        stored_move = next(row for row in before
                           if row["type"] == "move" and row["occurred_at"].astimezone(UTC).date() == NEXT_DAY)
        copy = admit(move(event_id=stored_move["event_id"]), _noon(NEXT_DAY))
        [outcome] = land(conn, [LandingJob([copy], [], Provenance())])
        assert outcome.statuses == ["duplicate"]
