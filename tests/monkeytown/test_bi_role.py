"""The read-only role monkeytown_bi: it reads marts (also what dbt creates after the grants) and nothing else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ingest_api import migrate
from monkeytown.bi_role import (
    BI_ROLE,
    PASSWORD_FILE,
    bi_password,
    bi_role_url,
    bi_url,
    prepare_bi_role,
    set_bi_password,
)
from monkeytown.settings import load_settings
from tests.cli import monkeytown_env, run_monkeytown

ON_SHARED_SERVER = bool(os.environ.get("MONKEYTOWN_TEST_DATABASE_URL"))


def execute(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def bi_may(url: str, privilege_check: str) -> bool:
    """A has_*_privilege('monkeytown_bi', ...) answer, asked as the migrating user."""
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT {privilege_check}").fetchone()[0]


@pytest.fixture(scope="module")
def built(make_database, tmp_path_factory):
    """A migrated database, then what dbt makes after the grants: a table, a table replaced by create-then-rename,
    a view and a materialized view in marts; views and tables in staging, intermediate and public."""
    url = make_database()
    execute(
        url,
        "CREATE TABLE marts.games AS SELECT 'g1' AS game_id, 'chess' AS game_type",
        "CREATE TABLE marts.players AS SELECT 'old' AS player_id",
        "BEGIN",
        "CREATE TABLE marts.players__dbt_tmp AS SELECT 'alice' AS player_id",
        "ALTER TABLE marts.players RENAME TO players__dbt_backup",
        "ALTER TABLE marts.players__dbt_tmp RENAME TO players",
        "DROP TABLE marts.players__dbt_backup",
        "COMMIT",
        "CREATE VIEW marts.chess_games AS SELECT * FROM marts.games WHERE game_type = 'chess'",
        "CREATE MATERIALIZED VIEW marts.game_type_overview AS SELECT game_type, count(*) AS games FROM marts.games"
        " GROUP BY 1",
        "CREATE SCHEMA staging",
        "CREATE VIEW staging.stg_raw__game_starts AS SELECT * FROM raw.events",
        "CREATE SCHEMA intermediate",
        "CREATE TABLE intermediate.int_games AS SELECT 'g1' AS game_id",
        "CREATE TABLE public.app_data AS SELECT 1 AS secret",
    )
    settings = load_settings({"MONKEYTOWN_HOME": str(tmp_path_factory.mktemp("bi_home"))})
    assert prepare_bi_role(url, bi_password(settings)) is None
    return bi_role_url(settings, url)


@pytest.fixture
def bi(built):
    with psycopg.connect(built, autocommit=True) as conn:
        assert conn.info.user == BI_ROLE
        yield conn


def test_bi_reads_the_marts_tables_views_and_materialized_views_dbt_creates_after_the_grants(bi):
    assert bi.execute("SELECT game_id FROM marts.games").fetchall() == [("g1",)]
    assert bi.execute("SELECT player_id FROM marts.players").fetchall() == [("alice",)]
    assert bi.execute("SELECT game_id FROM marts.chess_games").fetchall() == [("g1",)]
    assert bi.execute("SELECT game_type, games FROM marts.game_type_overview").fetchall() == [("chess", 1)]


@pytest.mark.parametrize("table", ["raw.events", "raw.ingest_errors", "raw.event_ids", "raw.schema_migrations",
                                   "staging.stg_raw__game_starts", "intermediate.int_games", "public.app_data"])
def test_bi_cannot_read_anything_outside_marts(bi, table):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        bi.execute(f"SELECT * FROM {table}")


@pytest.mark.parametrize("statement", [
    "INSERT INTO marts.games VALUES ('g2', 'go')",
    "UPDATE marts.games SET game_type = 'go'",
    "DELETE FROM marts.games",
    "TRUNCATE marts.games",
    "ALTER TABLE marts.games ADD COLUMN extra int",
    "DROP TABLE marts.players",
    "REFRESH MATERIALIZED VIEW marts.game_type_overview",
    "CREATE TABLE marts.mine (x int)",
    "CREATE VIEW marts.mine AS SELECT 1",
    "CREATE TABLE public.mine (x int)",
    "CREATE TABLE mine (x int)",
    "CREATE SCHEMA mine",
])
def test_bi_cannot_write_or_create_anything(bi, statement):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        bi.execute(statement)


def test_marts_is_the_only_application_data_bi_may_read_and_it_may_write_none(bi):
    relations = bi.execute("""
        SELECT n.nspname, has_table_privilege(c.oid, 'SELECT'),
               has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
          AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'""").fetchall()
    schemas = bi.execute("""
        SELECT nspname, has_schema_privilege(oid, 'USAGE'), has_schema_privilege(oid, 'CREATE') FROM pg_namespace
        WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%'""").fetchall()
    assert {schema for schema, readable, _ in relations if readable} == {"marts"}
    assert [schema for schema, _, writable in relations if writable] == []
    assert {schema for schema, usable, _ in schemas if usable} <= {"marts", "public"}
    assert [schema for schema, _, creatable in schemas if creatable] == []


def test_create_on_public_left_by_an_older_template_is_revoked_from_public(make_database):
    url = make_database(migrated=False)
    execute(url, "GRANT CREATE ON SCHEMA public TO PUBLIC")  # what databases from before PostgreSQL 15 have
    assert bi_may(url, f"has_schema_privilege('{BI_ROLE}', 'public', 'CREATE')")
    migrate.upgrade(url)
    assert not bi_may(url, f"has_schema_privilege('{BI_ROLE}', 'public', 'CREATE')")


def scram_verifies(verifier: str, password: str) -> bool:
    """Whether a pg_authid SCRAM-SHA-256 verifier was made from `password` (RFC 5802 StoredKey)."""
    method, iterations_and_salt, keys = verifier.split("$")
    iterations, salt = iterations_and_salt.split(":")
    stored_key = base64.b64decode(keys.split(":")[0])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return method == "SCRAM-SHA-256" and hashlib.sha256(client_key).digest() == stored_key


def test_the_role_gets_exactly_the_password_its_url_carries(database_url):
    password = "it's a p@ss:w/rd%\\ ?&#"
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        set_bi_password(conn, password)  # read back in the same transaction: no other upgrade can change it between
        verifier, can_login = conn.execute(
            "SELECT rolpassword, rolcanlogin FROM pg_authid WHERE rolname = %s", (BI_ROLE,)).fetchone()
    assert can_login and password not in verifier
    assert scram_verifies(verifier, password) and not scram_verifies(verifier, password + "x")
    parts = conninfo_to_dict(bi_url(database_url, password))
    assert (parts["user"], parts["password"]) == (BI_ROLE, password)


def test_the_url_keeps_host_port_dbname_and_options_and_encodes_the_password():
    assert bi_url("postgresql://postgres:pw@127.0.0.1:54330/monkeytown", "p@ss/w:rd") == (
        "postgresql://monkeytown_bi:p%40ss%2Fw%3Ard@127.0.0.1:54330/monkeytown")
    assert bi_url("postgresql://app@db.example.com/analytics?sslmode=require", "x") == (
        "postgresql://monkeytown_bi:x@db.example.com/analytics?sslmode=require")
    assert bi_url("host=/run/postgresql port=5433 dbname=mt user=app", "x") == (
        "postgresql://monkeytown_bi:x@/mt?host=/run/postgresql&port=5433")


def test_the_password_is_generated_once_under_home_unless_configured(tmp_path):
    settings = load_settings({"MONKEYTOWN_HOME": str(tmp_path)})
    first = bi_password(settings)
    assert bi_password(settings) == first and len(first) >= 32
    assert stat.S_IMODE((tmp_path / PASSWORD_FILE).stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [PASSWORD_FILE]
    configured = load_settings({"MONKEYTOWN_HOME": str(tmp_path), "MONKEYTOWN_BI_PASSWORD": "from-the-vault"})
    assert bi_password(configured) == "from-the-vault" and "from-the-vault" not in repr(configured)


def test_concurrent_upgrades_of_several_databases_on_one_server_all_succeed(make_database):
    urls = [make_database(migrated=False) for _ in range(3)]

    def upgrade_and_prepare(url: str) -> str | None:
        migrate.upgrade(url)
        return prepare_bi_role(url, "one-password-for-the-server")

    with ThreadPoolExecutor(max_workers=6) as pool:
        warnings = list(pool.map(upgrade_and_prepare, urls * 2))
    assert warnings == [None] * 6
    for url in urls:
        assert bi_may(url, f"has_schema_privilege('{BI_ROLE}', 'marts', 'USAGE')")
        assert bi_may(url, f"has_database_privilege('{BI_ROLE}', current_database(), 'CONNECT')")


def test_db_url_role_bi_prints_a_url_psycopg_logs_in_with(make_database, tmp_path):
    url = make_database(migrated=False)
    env = monkeytown_env(tmp_path / "home", url)
    upgraded = run_monkeytown(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "warning" not in upgraded.stderr
    execute(url, "CREATE TABLE marts.games AS SELECT 'g1' AS game_id")

    printed = run_monkeytown(env, "db", "url", "--role", "bi")
    assert printed.returncode == 0, printed.stderr
    [bi_line] = printed.stdout.splitlines()
    parts, active = conninfo_to_dict(bi_line), conninfo_to_dict(url)
    assert (parts["user"], parts["password"]) == (BI_ROLE, (tmp_path / "home" / PASSWORD_FILE).read_text().strip())
    assert [parts.get(k) for k in ("host", "port", "dbname")] == [active.get(k) for k in ("host", "port", "dbname")]
    with psycopg.connect(bi_line, autocommit=True) as bi:
        assert bi.execute("SELECT current_user, game_id FROM marts.games").fetchall() == [(BI_ROLE, "g1")]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            bi.execute("SELECT * FROM raw.events")
    assert run_monkeytown(env, "db", "url").stdout == url + "\n"


@pytest.fixture
def owner_without_createrole(server_url):
    """A database owned by a login role that may not create or alter roles."""
    name = f"monkeytown_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOCREATEROLE").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(name)))
    yield make_conninfo(server_url, dbname=name, user=name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_without_createrole_upgrade_warns_once_and_db_url_says_what_is_missing(
        database_url, owner_without_createrole, tmp_path):
    # the session's database is migrated, so the role exists: only its password is out of this user's reach
    env = monkeytown_env(tmp_path / "home", owner_without_createrole)
    upgraded = run_monkeytown(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    [warning] = upgraded.stderr.splitlines()
    assert warning.startswith(f"monkeytown: warning: could not set the password of {BI_ROLE}")
    assert "CREATEROLE" in warning and "MONKEYTOWN_BI_PASSWORD" in warning

    printed = run_monkeytown(env, "db", "url", "--role", "bi")
    assert (printed.returncode, printed.stdout) == (1, "")
    [error] = printed.stderr.splitlines()
    assert "may not set the password" in error and "MONKEYTOWN_BI_PASSWORD" in error

    given = run_monkeytown(env | {"MONKEYTOWN_BI_PASSWORD": "set-by-the-dba"}, "db", "url", "--role", "bi")
    assert given.returncode == 0, given.stderr
    assert conninfo_to_dict(given.stdout.strip())["password"] == "set-by-the-dba"
    assert bi_may(owner_without_createrole, f"has_schema_privilege('{BI_ROLE}', 'marts', 'USAGE')")


def each_database(server_url: str, statement: str, *, where_function: str | None = None) -> None:
    with psycopg.connect(server_url) as conn:
        names = [row[0] for row in conn.execute(
            "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate")]
    for name in names:
        with psycopg.connect(make_conninfo(server_url, dbname=name), autocommit=True) as conn:
            if where_function is None or conn.execute("SELECT to_regproc(%s)", (where_function,)).fetchone()[0]:
                conn.execute(statement)


@pytest.fixture
def without_bi_role(server_url):
    """The role gone, as on a new server: only on the session's own server, since on a shared one it stays."""
    if ON_SHARED_SERVER:
        pytest.skip("the role is shared by every database on MONKEYTOWN_TEST_DATABASE_URL's server, so it stays")
    each_database(server_url, f"DROP OWNED BY {BI_ROLE}")
    execute(server_url, f"DROP ROLE {BI_ROLE}")
    yield
    each_database(server_url, "SELECT raw.ensure_bi_role()", where_function="raw.ensure_bi_role")


def wait_until_blocked_on_a_lock(server_url: str, dbname: str, upgrading) -> None:
    deadline = time.monotonic() + 30
    with psycopg.connect(server_url, autocommit=True) as conn:
        while not conn.execute("SELECT EXISTS (SELECT FROM pg_stat_activity WHERE datname = %s"
                               " AND wait_event_type = 'Lock')", (dbname,)).fetchone()[0]:
            assert not upgrading.done(), upgrading.result()
            assert time.monotonic() < deadline, "the upgrade never waited for the other creation"


def test_an_upgrade_that_meets_another_databases_creation_of_the_role_succeeds(
        server_url, make_database, without_bi_role):
    url = make_database(migrated=False)
    with psycopg.connect(server_url) as other, ThreadPoolExecutor(max_workers=1) as pool:
        other.execute(f"CREATE ROLE {BI_ROLE} LOGIN")  # the upgrade of another database, not yet committed
        upgrading = pool.submit(migrate.upgrade, url)
        wait_until_blocked_on_a_lock(server_url, conninfo_to_dict(url)["dbname"], upgrading)
        other.commit()
        assert upgrading.result(timeout=60) == migrate.available_migrations()
    assert bi_may(url, f"has_schema_privilege('{BI_ROLE}', 'marts', 'USAGE')")


def test_without_createrole_and_without_the_role_upgrade_skips_it_until_the_role_exists(
        server_url, without_bi_role, owner_without_createrole, tmp_path):
    env = monkeytown_env(tmp_path / "home", owner_without_createrole)
    upgraded = run_monkeytown(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    [warning] = upgraded.stderr.splitlines()
    assert warning.startswith(f"monkeytown: warning: skipped the read-only role {BI_ROLE}") and "CREATEROLE" in warning

    printed = run_monkeytown(env, "db", "url", "--role", "bi")
    assert (printed.returncode, printed.stdout) == (1, "")
    [error] = printed.stderr.splitlines()
    assert f"the role {BI_ROLE} does not exist" in error and "CREATEROLE" in error

    execute(server_url, f"CREATE ROLE {BI_ROLE} LOGIN")  # an administrator creates it
    assert run_monkeytown(env, "db", "upgrade").returncode == 0
    assert bi_may(owner_without_createrole, f"has_schema_privilege('{BI_ROLE}', 'marts', 'USAGE')")
