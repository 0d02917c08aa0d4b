"""The data-quality rules for the marts, written by hand: what a correct game, move, player and rollup row
looks like. Each suite reads a table of the rows changed since its last validation (less the overlap)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import sql

from ingest_api.contracts import MAX_EVENT_AGE
from orchestration.quality.raw_rules import Rule, since_literal
from orchestration.quality.rows_to_validate import fill_statement


@dataclass(frozen=True)
class MartSuite:
    name: str  # also the table quality.<name>_to_validate and the watermark marts.<name>
    select: str  # the columns the rules read, over marts.<name> AS m
    #: which rows to validate: changed since {since} (the last validation, less the overlap), or in the days an
    #: event up to {max_event_age} old can still change
    changed: str
    rules: tuple[Rule, ...]
    key_columns: tuple[str, ...]  # how the results name a failing row

    @property
    def view(self) -> str:
        return f"{self.name}_to_validate"

    @property
    def watermark(self) -> str:
        return f"marts.{self.name}"


def _arrived_since_last_validation(column: str) -> str:
    return f"{column} > {{since}}"


def _rule(name, kind, column, severity="critical", **options) -> Rule:
    return Rule(name, kind, column, severity, None, options)


def _finite(column: str) -> str:
    # NaN sorts above every number and the infinities outside any bound, so this is false for all three
    return f"coalesce(m.{column} BETWEEN -1e6 AND 1e6, false) AS {column}_finite"


MART_SUITES = (
    MartSuite("games", """m.game_id, m.duration_seconds, m.move_count, m.winner,
        extract(epoch FROM m.ended_at - m.started_at) AS seconds_from_start_to_end,
        CASE
            WHEN m.winner IS NULL THEN 'draw'
            WHEN m.winner = m.session_id
                 -- an index probe per changed game: without the offset the planner may hash every move instead
                 OR EXISTS (SELECT 1 FROM marts.moves AS mv WHERE mv.game_id = m.game_id AND mv.session_id = m.winner
                            OFFSET 0)
                THEN 'participant'
            -- uncorrelated, so hashed once: correlated, it scanned marts.games once per row
            WHEN m.winner IN (SELECT other.session_id FROM marts.games AS other WHERE other.session_id IS NOT NULL)
                THEN 'someone else'
            ELSE 'label'
        END AS winner_is""", _arrived_since_last_validation("m.last_received_at"), (
        _rule("game_id_unique", "ExpectColumnValuesToBeUnique", "game_id"),
        _rule("duration_not_negative", "ExpectColumnValuesToBeBetween", "duration_seconds", min_value=0),
        _rule("ends_after_it_starts", "ExpectColumnValuesToBeBetween", "seconds_from_start_to_end", min_value=0),
        _rule("winner_is_a_participant_or_a_label", "ExpectColumnValuesToBeInSet", "winner_is",
              value_set=["draw", "participant", "label"]),
        _rule("move_count_not_negative", "ExpectColumnValuesToBeBetween", "move_count", min_value=0),
    ), ("game_id",)),
    MartSuite("moves", "m.event_id, m.move_number", _arrived_since_last_validation("m.received_at"), (
        _rule("event_id_unique", "ExpectColumnValuesToBeUnique", "event_id"),
        _rule("numbered_from_one", "ExpectColumnValuesToBeBetween", "move_number", min_value=1),
    ), ("event_id",)),
    MartSuite("players", "m.player_id, m.games_played, m.games_won, m.games_played - m.games_won AS games_not_won",
              _arrived_since_last_validation("m.last_received_at"), (
        _rule("player_id_unique", "ExpectColumnValuesToBeUnique", "player_id"),
        _rule("games_played_not_negative", "ExpectColumnValuesToBeBetween", "games_played", min_value=0),
        _rule("games_won_not_negative", "ExpectColumnValuesToBeBetween", "games_won", min_value=0),
        _rule("never_wins_more_than_played", "ExpectColumnValuesToBeBetween", "games_not_won", min_value=0),
    ), ("player_id",)),
    *(MartSuite(f"game_activity_{grain}", f"""m.{period}, m.game_type, m.games_started, m.games_finished, m.moves,
        m.active_players, m.games_started - m.games_finished AS started_minus_finished""",
        # the days the hourly schedule recomputes (a late event can change no other)
        f"m.{period} >= date_trunc('day', now() AT TIME ZONE 'UTC' - {{max_event_age}}) AT TIME ZONE 'UTC'", (
        _rule("one_row_per_period_and_game_type", "ExpectCompoundColumnsToBeUnique", period,
              column_list=[period, "game_type"]),
        *(_rule(f"{count}_not_negative", "ExpectColumnValuesToBeBetween", count, min_value=0)
          for count in ("games_started", "games_finished", "moves", "active_players")),
        # a game started at 10:59 and finished at 11:01 counts in two hours, so this is a warning
        _rule("games_finished_at_most_games_started", "ExpectColumnValuesToBeBetween", "started_minus_finished",
              severity="warning", min_value=0),
    ), (period, "game_type")) for grain, period in (("hourly", "hour"), ("daily", "day"))),
    MartSuite("retention_cohorts", """m.cohort_day, m.players, m.d1_retained, m.d7_retained, m.d30_retained,
        m.players - m.d1_retained AS not_back_on_day_1, m.players - m.d7_retained AS not_back_on_day_7,
        m.players - m.d30_retained AS not_back_on_day_30, m.d1_rate, m.d7_rate, m.d30_rate""",
        # every row: one a day, and a late event can change a cohort without a newer arrival in it (a player leaves)
        "true", (
        _rule("one_row_per_cohort_day", "ExpectColumnValuesToBeUnique", "cohort_day"),
        _rule("players_positive", "ExpectColumnValuesToBeBetween", "players", min_value=1),
        # a dN column is null while day N is not seen yet; GX leaves nulls out
        *(_rule(f"d{n}_retained_not_negative", "ExpectColumnValuesToBeBetween", f"d{n}_retained", min_value=0)
          for n in (1, 7, 30)),
        *(_rule(f"d{n}_retained_at_most_players", "ExpectColumnValuesToBeBetween", f"not_back_on_day_{n}",
                min_value=0) for n in (1, 7, 30)),
        *(_rule(f"d{n}_rate_between_0_and_1", "ExpectColumnValuesToBeBetween", f"d{n}_rate", min_value=0,
                max_value=1) for n in (1, 7, 30)),
    ), ("cohort_day",)),
    MartSuite("game_participants", """m.game_id, m.participant, m.result, m.moves_made,
        m.last_move_at >= m.first_move_at OR m.first_move_at IS NULL AS moves_in_order,
        count(*) FILTER (WHERE m.result = 'win') OVER (PARTITION BY m.game_id) AS winners_in_game""",
        # a game's rows are rebuilt together, so they arrive together
        _arrived_since_last_validation("m.last_received_at"), (
        _rule("one_row_per_game_and_participant", "ExpectCompoundColumnsToBeUnique", "game_id",
              column_list=["game_id", "participant"]),
        _rule("result_known", "ExpectColumnValuesToBeInSet", "result",
              value_set=["win", "loss", "draw", "abandoned"]),
        _rule("moves_made_not_negative", "ExpectColumnValuesToBeBetween", "moves_made", min_value=0),
        _rule("first_move_before_last", "ExpectColumnValuesToBeInSet", "moves_in_order", value_set=[True]),
        _rule("at_most_one_winner_per_game", "ExpectColumnValuesToBeBetween", "winners_in_game", min_value=0,
              max_value=1),
    ), ("game_id", "participant")),
    MartSuite("rating_history", f"""m.game_id, m.player_id, m.games_rated, {_finite("rating_before")},
        {_finite("rating_after")}""",
        # a replay rewrites a game type's later rows, each carrying the arrival that caused it
        _arrived_since_last_validation("m.last_received_at"), (
        _rule("one_row_per_game_and_participant", "ExpectCompoundColumnsToBeUnique", "game_id",
              column_list=["game_id", "player_id"]),
        _rule("rating_before_finite", "ExpectColumnValuesToBeInSet", "rating_before_finite", value_set=[True]),
        _rule("rating_after_finite", "ExpectColumnValuesToBeInSet", "rating_after_finite", value_set=[True]),
        _rule("games_rated_positive", "ExpectColumnValuesToBeBetween", "games_rated", min_value=1),
    ), ("game_id", "player_id")),
    MartSuite("player_ratings", f"""m.player_id, m.game_type, m.games_rated, {_finite("rating")}""",
              _arrived_since_last_validation("m.last_received_at"), (
        _rule("one_row_per_player_and_game_type", "ExpectCompoundColumnsToBeUnique", "player_id",
              column_list=["player_id", "game_type"]),
        _rule("rating_finite", "ExpectColumnValuesToBeInSet", "rating_finite", value_set=[True]),
        _rule("games_rated_positive", "ExpectColumnValuesToBeBetween", "games_rated", min_value=1),
    ), ("player_id", "game_type")),
)


def mart_view_sql(suite: MartSuite, since: datetime | None) -> sql.Composed:
    """The rows to validate, filled again for each validation with `since` as a literal."""
    return fill_statement(suite.view, sql.SQL("""SELECT {select}
FROM marts.{table} AS m
WHERE {changed}""").format(
        select=sql.SQL(suite.select), table=sql.Identifier(suite.name),
        changed=sql.SQL(suite.changed).format(since=since_literal(since), max_event_age=sql.Literal(MAX_EVENT_AGE))))
