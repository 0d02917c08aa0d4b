"""What the core build reads of a failed `dbt build` (run_results.json): which nodes failed on a database error,
and that error as people read it. The build itself runs in tests/orchestration/test_bad_rows.py."""

from orchestration.dbt.build import database_error, failed_nodes, listed


def result(unique_id: str, status: str, message: str | None = None) -> dict:
    return {"unique_id": unique_id, "status": status, "message": message}


def test_only_nodes_that_errored_are_failed_nodes_not_failed_data_tests_nor_unit_tests():
    run_results = {"results": [
        result("model.monkeytown.agent_runs", "error", "Database Error in model agent_runs (models/marts/agent_runs"
               '.sql)\n  date/time field value out of range: "2026-02-30T10:00:00Z"\n  compiled code at target/x.sql'),
        result("model.monkeytown.games", "success"),
        result("test.monkeytown.unique_games_game_id.e89135dc6e", "fail", "Got 1 result, configured to fail if != 0"),
        result("test.monkeytown.accepted_values_agent_runs_status.d3b2eaefe9", "skipped"),
        result("unit_test.monkeytown.moves.a_late_move", "error", "Database Error in unit_test a_late_move\n  boom"),
    ]}
    failed = failed_nodes(run_results)
    assert failed == {"model.monkeytown.agent_runs": 'date/time field value out of range: "2026-02-30T10:00:00Z"'}
    assert listed(failed) == 'agent_runs: date/time field value out of range: "2026-02-30T10:00:00Z"'


def test_a_message_that_is_not_a_database_error_is_kept_whole():
    assert database_error("Compilation Error in model games\n  on_schema_change fail") == (
        "Compilation Error in model games")
    assert database_error(None) == "no message"
