-- The quality suites read their rows from tables filled once per validation, no longer from views (GX queries
-- them once or more per expectation; orchestration/quality/rows_to_validate.py): the views go, and the next
-- validation of each suite makes its table.
DROP VIEW IF EXISTS quality.raw_events_to_validate, quality.games_to_validate, quality.moves_to_validate,
    quality.players_to_validate, quality.game_activity_hourly_to_validate, quality.game_activity_daily_to_validate,
    quality.retention_cohorts_to_validate;
