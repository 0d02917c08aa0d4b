"""Player retention: a player inactive for MONKEYTOWN_PLAYER_ANONYMIZE_DAYS (90) is anonymized, one inactive for
MONKEYTOWN_PLAYER_DELETE_DAYS (365) is deleted, each run in one transaction that records its system event.

Inactive: seen last before the cutoff (as_of less the days) in marts.players, and without a game event in
raw.events on or after it (one the marts were not built from yet). Anonymous players (made at the door from an
event id, is_anonymous) name no one and are left as they are.

Anonymizing replaces a player's session id, wherever PostgreSQL holds it, with its pseudonym, a keyed hash
(HMAC-SHA256 under MONKEYTOWN_ANONYMIZATION_KEY): the same everywhere, so joins, games played and games won still
hold, and in the form of a well-formed session id. Whoever holds the key can still test a guessed session id
against it: that is pseudonymization, and deletion is what removes even that.

Deleting reaches every row PostgreSQL holds: the player's marts.players row and marts.player_active_days rows are
deleted (a retention cohort counts them until it is next rebuilt); in raw.events (the game
events still held) and in marts.games and marts.moves the session_id and player_id become NULL, the payload's
session_id becomes null (the contracts allow it; the raw suite knows the shape as player state `deleted`), and a
winner that was theirs, and their key in a game_end's scores, become the label `deleted_player`. Their
marts.game_participants rows go (save where they won or were scored: the label takes those), and so do their
marts.rating_history and marts.player_ratings rows (the ratings of those they played stay as computed until their
game type is replayed from before those games). Games, moves and their counts stay; so do the rollups, which hold
counts only. Materialized views of the marts holding identifiers
(the leaderboard) are refreshed in the same transaction.

What neither reaches, and stays as it was:
- the archive: every family day archived to MONKEYTOWN_ARCHIVE_URL is immutable and proven by its checksum, so it
  keeps the identifiers raw.events held when it was archived. With the default retention (game events archived
  after 90 days) every day of an inactive player's events is archived before either policy applies, so the
  archive keeps their original session ids, and restoring a day brings them back;
- raw.ingest_errors: refused and quarantined events, their payloads kept as received for replay;
- outside PostgreSQL: GX validation results and Data Docs under MONKEYTOWN_HOME, which quote failing values, and
  backups.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from typing import NamedTuple

import psycopg
from psycopg import sql

from ingest_api.system_events import record_players_retention


def _read_sql(name: str) -> str:
    return resources.files(__package__).joinpath(f"sql/{name}").read_text("utf-8")


_INACTIVE_IN_MARTS_SQL = _read_sql("players_inactive_in_marts.sql")
_INACTIVE_IN_RAW_SQL = _read_sql("players_inactive_in_raw.sql")
_MART_RELATIONS_SQL = _read_sql("players_mart_relations.sql")
_REPLACE_IN_RAW_SQL = _read_sql("players_replace_raw_events.sql")
_REPLACE_SCORES_IN_RAW_SQL = _read_sql("players_replace_raw_scores.sql")
#: The mart tables that can name a player, each with the statement that rewrites it (players' returns its count).
_REPLACE_IN_MARTS_SQL = {table: _read_sql(f"players_replace_{table}.sql")
                         for table in ("games", "moves", "players", "player_active_days", "game_participants",
                                       "rating_history", "player_ratings")}
#: The tables whose statement returns its count (a delete and insert would count both halves).
_COUNTED_BY_STATEMENT = ("players", "player_active_days", "game_participants", "rating_history", "player_ratings")

ANONYMIZED = "players_anonymized"
DELETED = "players_deleted"
PSEUDONYM_PREFIX = "anonymized_"
PSEUDONYM_HEX_DIGITS = 32  # 128 bits: no two players of any realistic number share one
DELETED_WINNER = "deleted_player"
#: the columns of a mart that can name a player
IDENTIFIER_COLUMNS = ("session_id", "player_id", "winner", "participant")
MIN_KEY_BYTES = 16  # as MONKEYTOWN_ANONYMIZATION_KEY: a shorter key could be guessed, and every pseudonym with it
LOCK_TIMEOUT = "10s"  # a dbt run holding the marts' rows fails this run within seconds instead of queueing it
STATEMENT_TIMEOUT_SECONDS = 1800  # a pass over every game event PostgreSQL holds; a stuck one fails

_VERBS = {ANONYMIZED: ("anonymized", "would anonymize"), DELETED: ("deleted", "would delete")}


class UnknownPlayerColumns(RuntimeError):
    """A mart table holds a column that can name a player and this module does not rewrite it: nothing changed."""


@dataclass(frozen=True)
class PlayersOutcome:
    """What one run did (or a dry run would do): the players it reached and the rows it changed per table."""

    action: str  # ANONYMIZED or DELETED
    as_of: date
    inactive_before: date
    players: int
    tables: dict[str, int] = field(default_factory=dict)  # rows changed per "schema.table"
    dry_run: bool = False

    def line(self) -> str:
        done, would = _VERBS[self.action]
        rows = ", ".join(f"{table} {count}" for table, count in self.tables.items()) or "none"
        return (f"as of {self.as_of}: {would if self.dry_run else done} {self.players} players inactive since "
                f"before {self.inactive_before}; rows changed: {rows}")


class Replacement(NamedTuple):
    """What a player's identifier becomes: `replacement` as a session and player (None: nothing), `winner` as a
    game's winner."""

    identifier: str
    replacement: str | None
    winner: str


def player_pseudonym(key: bytes, identifier: str) -> str:
    """The player's pseudonym: `anonymized_` and the first 32 hex digits of HMAC-SHA256(key, identifier), a
    well-formed session id (^[A-Za-z0-9_-]{1,64}$); the same for the same key and identifier, always."""
    digest = hmac.new(key, identifier.encode("utf-8"), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX_DIGITS]


def inactive_cutoff(as_of: date, inactive_days: int) -> datetime:
    """The start (UTC) of the day `inactive_days` before `as_of`: a player seen last before it is inactive."""
    if inactive_days < 1:
        raise ValueError(f"inactive_days must be at least 1 day, not {inactive_days}")
    return datetime.combine(as_of - timedelta(days=inactive_days), time(), UTC)


def inactive_players(conn: psycopg.Connection, cutoff: datetime, *, skip_prefix: str | None = None) -> list[str]:
    """The player_ids of the players inactive since before `cutoff`, anonymous players left out, and those whose
    id starts with `skip_prefix`; from marts.players, or from raw.events while the marts do not exist yet."""
    query = _INACTIVE_IN_MARTS_SQL if _exists(conn, "marts.players") else _INACTIVE_IN_RAW_SQL
    rows = conn.execute(query, {"cutoff": cutoff, "skip_prefix": skip_prefix}).fetchall()
    return [player_id for (player_id,) in rows]


def anonymize_inactive_players(conn: psycopg.Connection, key: bytes, as_of: date, inactive_days: int, *,
                               dry_run: bool = False) -> PlayersOutcome:
    """Replaces every identifier of each player inactive for `inactive_days` as of `as_of` with its pseudonym, in
    raw.events and the marts, in one transaction with its system event. Players already anonymized are skipped,
    so a second run changes nothing. A dry run makes the same changes and rolls them back: exact counts, nothing
    kept (it holds the rows it would change for as long as a run would)."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the anonymization key has {len(key)} bytes; a keyed hash needs {MIN_KEY_BYTES} or more")

    def pseudonymized(player: str) -> Replacement:
        pseudonym = player_pseudonym(key, player)
        return Replacement(player, pseudonym, pseudonym)

    return _apply(conn, ANONYMIZED, as_of, inactive_days, pseudonymized, PSEUDONYM_PREFIX, dry_run)


def delete_inactive_players(conn: psycopg.Connection, as_of: date, inactive_days: int, *,
                            dry_run: bool = False) -> PlayersOutcome:
    """Deletes each player inactive for `inactive_days` as of `as_of` (anonymized or not): their marts.players
    row goes, and their identifiers become NULL (a winner `deleted_player`) in raw.events and the marts, in one
    transaction with its system event. What it does not reach: the module's docstring. A dry run makes the same
    changes and rolls them back."""
    def deleted(player: str) -> Replacement:
        return Replacement(player, None, DELETED_WINNER)

    return _apply(conn, DELETED, as_of, inactive_days, deleted, None, dry_run)


def _apply(conn: psycopg.Connection, action: str, as_of: date, inactive_days: int,
           replace: Callable[[str], Replacement], skip_prefix: str | None, dry_run: bool) -> PlayersOutcome:
    cutoff = inactive_cutoff(as_of, inactive_days)
    with conn.transaction() as transaction:
        _bound_transaction(conn)
        # one player run at a time: a second one waits, then finds the players done
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('player retention'))")
        players = inactive_players(conn, cutoff, skip_prefix=skip_prefix)
        replacements = [replace(player) for player in players]
        tables = _replace_everywhere(conn, replacements, refresh_views=not dry_run) if players else {}
        outcome = PlayersOutcome(action, as_of, cutoff.date(), len(players), tables, dry_run)
        if dry_run:
            raise psycopg.Rollback(transaction)
        if players:
            record_players_retention(conn, action, as_of, len(players), tables)
    return outcome


def _bound_transaction(conn: psycopg.Connection) -> None:
    conn.execute("SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
                 (LOCK_TIMEOUT, f"{STATEMENT_TIMEOUT_SECONDS * 1000}ms"))


def _replace_everywhere(conn: psycopg.Connection, replacements: list[Replacement], *,
                        refresh_views: bool) -> dict[str, int]:
    """Rewrites the identifiers of `replacements` in raw.events and in every mart holding them, in the caller's
    transaction; returns the rows changed per table. Refuses (before changing anything) when a mart table holds
    a player's identifier in a way this module does not know."""
    tables, views = _mart_relations(conn)
    _load_replacements(conn, replacements)
    scores_only = conn.execute(_REPLACE_SCORES_IN_RAW_SQL).fetchone()[0]  # a game_end's scores name players too
    changed = {"raw.events": scores_only + conn.execute(_REPLACE_IN_RAW_SQL).rowcount}
    for table in tables:
        cursor = conn.execute(_REPLACE_IN_MARTS_SQL[table])
        changed[f"marts.{table}"] = cursor.fetchone()[0] if table in _COUNTED_BY_STATEMENT else cursor.rowcount
    if refresh_views:
        for view in views:  # last, as a refresh keeps the view's readers waiting until the commit
            conn.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(sql.Identifier("marts", view)))
    conn.execute("DROP TABLE player_replacements")  # a caller's open transaction may run another
    return changed


def _mart_relations(conn: psycopg.Connection) -> tuple[list[str], list[str]]:
    """(the mart tables to rewrite, the materialized views to refresh): those of schema marts holding a column
    that can name a player; raises UnknownPlayerColumns for a table without a statement here."""
    found = conn.execute(_MART_RELATIONS_SQL, {"columns": list(IDENTIFIER_COLUMNS)}).fetchall()
    unknown = [f"marts.{name} ({', '.join(columns)})" for name, kind, columns in found
               if kind != "m" and name not in _REPLACE_IN_MARTS_SQL]
    if unknown:
        raise UnknownPlayerColumns(
            f"{'; '.join(unknown)} can hold a player's identifier, and player retention does not rewrite it: add "
            "a statement for it to orchestration/retention/players.py (_REPLACE_IN_MARTS_SQL) or rename the column")
    return ([name for name, kind, _ in found if kind != "m"], [name for name, kind, _ in found if kind == "m"])


def _load_replacements(conn: psycopg.Connection, replacements: list[Replacement]) -> None:
    conn.execute("CREATE TEMPORARY TABLE player_replacements (identifier text PRIMARY KEY, replacement text,"
                 " winner text NOT NULL) ON COMMIT DROP")
    with conn.cursor().copy("COPY player_replacements (identifier, replacement, winner) FROM STDIN") as copy:
        for replacement in replacements:
            copy.write_row(replacement)
    conn.execute("ANALYZE player_replacements")  # autovacuum never sees a temporary table: the joins need its size


def _exists(conn: psycopg.Connection, relation: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (relation,)).fetchone()[0]
