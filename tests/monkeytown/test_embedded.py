"""The embedded PostgreSQL: password-less only on its unix socket, in a folder only the server's user may enter;
loopback TCP asks for the generated password, and `tcp_url()` (what `monkeytown db url` prints) carries it."""

from __future__ import annotations

import os
import stat

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from monkeytown.database import EmbeddedPostgres


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    server = EmbeddedPostgres(tmp_path_factory.mktemp("embedded-home"))
    server.start()
    yield server
    server.stop()


def _connects(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def _without_password(url: str) -> str:
    return make_conninfo(url, password="")


def test_tcp_needs_the_password_and_the_printed_url_has_it(embedded):
    tcp = embedded.tcp_url()
    assert conninfo_to_dict(tcp)["password"] == embedded.password()
    assert _connects(tcp)
    assert not _connects(_without_password(tcp))
    assert not _connects(make_conninfo(tcp, password="not-the-password"))


def test_the_unix_socket_needs_no_password_and_its_folder_is_private(embedded):
    url = embedded.url()
    assert "password" not in conninfo_to_dict(url)
    assert _connects(url)
    socket_dir = conninfo_to_dict(url)["host"]
    assert stat.S_IMODE(os.stat(socket_dir).st_mode) == 0o700


def test_the_password_file_is_private(embedded):
    assert stat.S_IMODE((embedded.home / "postgres_password").stat().st_mode) == 0o600


def test_a_cluster_that_trusted_tcp_is_secured_on_the_next_start(embedded):
    hba = embedded.pgdata / "pg_hba.conf"
    before = hba.stat()
    hba.write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    with psycopg.connect(embedded.url("postgres"), autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")
    assert _connects(_without_password(embedded.tcp_url()))  # the hole this closes
    EmbeddedPostgres(embedded.home).start()  # another process starting the platform on the running server
    assert not _connects(_without_password(embedded.tcp_url()))
    assert (hba.stat().st_uid, stat.S_IMODE(hba.stat().st_mode)) == (before.st_uid, stat.S_IMODE(before.st_mode))
