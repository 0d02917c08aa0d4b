"""`monkeytown retention run`, `archive list` and `archive restore` as a user runs them, on a real database and
the default local archive."""

from __future__ import annotations

import psycopg
import pytest

from tests.cli import monkeytown_env, run_monkeytown
from tests.orchestration.test_archive_then_drop import DAYS, land_three_families

AFTER_A_YEAR = "2026-01-10"  # every game and system day of DAYS has expired; agent runs never do


@pytest.fixture
def landed(make_database, tmp_path):
    url = make_database()
    land_three_families(url)
    return url, monkeytown_env(tmp_path / "home", url)


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT source, count(*) FROM raw.events WHERE type <> 'retention'"
                                 " GROUP BY 1").fetchall())


def test_a_dry_run_says_what_would_go_and_changes_nothing(landed):
    url, env = landed
    before = counts(url)
    dry = run_monkeytown(env, "retention", "run", "--as-of", AFTER_A_YEAR, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[-1].startswith(
        f"as of {AFTER_A_YEAR}: would archive and drop 6 family days, 18 rows; "
        "would anonymize 1 player, would delete 1;")
    assert counts(url) == before
    assert run_monkeytown(env, "archive", "list").stdout.startswith("nothing archived yet")


def test_a_run_archives_and_drops_lists_the_days_and_a_day_restores_row_for_row(landed):
    url, env = landed
    before = counts(url)
    done = run_monkeytown(env, "retention", "run", "--as-of", AFTER_A_YEAR)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith(
        f"as of {AFTER_A_YEAR}: archived and dropped 6 family days, 18 rows; anonymized 0 players,")
    assert counts(url) == {"ci": before["ci"]}  # only the agent runs stay

    listed = run_monkeytown(env, "archive", "list", "--verify").stdout.splitlines()
    assert len(listed) == 1 + 6 and all(" verified " in line for line in listed[1:])
    assert sum(line.split()[0] == "game" for line in listed[1:]) == 3

    restored = run_monkeytown(env, "archive", "restore", "--day", DAYS[0].isoformat(), "--source", "game")
    table = f"archive.restored_game_events_{DAYS[0]:%Y%m%d}"
    assert restored.stdout.splitlines()[-1] == f"restored 4 rows into {table}"
    with psycopg.connect(url) as conn:
        assert conn.execute(f"SELECT count(*), count(DISTINCT event_id) FROM {table}"  # noqa: S608
                            " WHERE source = 'client'").fetchone() == (4, 4)

    again = run_monkeytown(env, "retention", "run", "--as-of", AFTER_A_YEAR)
    assert again.stdout.splitlines()[-1].startswith(
        f"as of {AFTER_A_YEAR}: archived and dropped 0 family days, 0 rows;")
