from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg

from ingest_api import migrate


def test_upgrade_is_idempotent_and_records_each_version(make_database):
    url = make_database(migrated=False)
    first = migrate.upgrade(url)
    assert [m.version for m in first] == [m.version for m in migrate.available_migrations()]
    assert migrate.upgrade(url) == []
    with psycopg.connect(url) as conn:
        assert migrate.current_version(conn) == migrate.latest_version()
        rows = conn.execute("SELECT version, checksum FROM raw.schema_migrations ORDER BY version").fetchall()
    assert rows == [(m.version, m.checksum) for m in migrate.available_migrations()]


def test_upgrade_to_a_target_version_stops_there_and_a_later_upgrade_goes_on(make_database):
    url = make_database(migrated=False)
    assert [m.version for m in migrate.upgrade(url, target=2)] == [1, 2]
    with psycopg.connect(url) as conn:
        assert migrate.current_version(conn) == 2
    assert [m.version for m in migrate.upgrade(url)] == [m.version for m in migrate.available_migrations()][2:]


def test_concurrent_upgrades_apply_each_migration_exactly_once(make_database):
    url = make_database(migrated=False)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: migrate.upgrade(url), range(4)))
    assert sorted(len(r) for r in results) == [0, 0, 0, len(migrate.available_migrations())]


def test_before_any_upgrade_there_is_no_version(make_database):
    with psycopg.connect(make_database(migrated=False)) as conn:
        assert migrate.current_version(conn) is None


def test_raw_events_is_partitioned_by_utc_day_from_yesterday_to_two_days_ahead(database_url):
    today = datetime.now(UTC).date()
    with psycopg.connect(database_url) as conn:
        partitions = [row[0] for row in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'raw.events'::regclass ORDER BY 1")]
        bounds = conn.execute(
            "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = %s",
            (f"events_{today:%Y%m%d}",)).fetchone()[0]
    expected = [f"events_{today + timedelta(days=d):%Y%m%d}" for d in range(-1, 3)]
    assert set(expected) <= set(partitions)
    assert f"'{today} 00:00:00+00'" in bounds and f"'{today + timedelta(days=1)} 00:00:00+00'" in bounds


def test_ensure_events_partition_is_safe_when_called_concurrently(database_url):
    day = datetime(2031, 5, 17).date()

    def ensure(_):
        with psycopg.connect(database_url, autocommit=True) as conn:
            return conn.execute("SELECT raw.ensure_events_partition(%s)", (day,)).fetchone()[0]

    with ThreadPoolExecutor(max_workers=6) as pool:
        names = set(pool.map(ensure, range(6)))
    assert names == {"events_20310517"}
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE raw.events_20310517")
