import logging
import multiprocessing
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monkeytown.log_rotation import next_midnight
from monkeytown.logs import ConsoleAndFileHandler
from orchestration.retention.housekeeping_logs import prune_log_files

MIDNIGHT = datetime(2026, 11, 30, tzinfo=UTC).timestamp()  # 2026-11-29 ends here
EVENING = MIDNIGHT - 3600


def handler_at(path: Path, now: float) -> ConsoleAndFileHandler:
    handler = ConsoleAndFileHandler(path, console=False, clock=lambda: now)
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


def log(handler: ConsoleAndFileHandler, message: str, created: float) -> None:
    handler.handle(logging.makeLogRecord({"name": "monkeytown.test", "levelno": logging.INFO, "levelname": "INFO",
                                          "msg": message, "created": created}))


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_the_first_record_after_utc_midnight_moves_the_days_lines_to_a_dated_file(tmp_path):
    path = tmp_path / "monkeytown.log"
    handler = handler_at(path, EVENING)
    log(handler, "late", MIDNIGHT - 1)
    log(handler, "last", MIDNIGHT - 0.001)
    log(handler, "first", MIDNIGHT)
    log(handler, "next", MIDNIGHT + 1)
    handler.close()
    assert lines(tmp_path / "monkeytown.2026-11-29.log") == ["late", "last"]
    assert lines(path) == ["first", "next"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["monkeytown.2026-11-29.log", "monkeytown.log"]


def test_a_quiet_day_leaves_no_empty_file_and_a_taken_name_is_never_overwritten(tmp_path):
    path = tmp_path / "monkeytown.log"
    (tmp_path / "monkeytown.2026-11-29.log").write_text("kept\n")
    handler = handler_at(path, EVENING)
    log(handler, "evening", EVENING)
    log(handler, "two days later", MIDNIGHT + 86400 + 5)  # nothing on the 30th: no file for it
    handler.close()
    assert lines(tmp_path / "monkeytown.2026-11-29.log") == ["kept"]
    assert lines(tmp_path / "monkeytown.2026-11-29.1.log") == ["evening"]
    assert lines(path) == ["two days later"]
    assert len(list(tmp_path.iterdir())) == 3


def test_a_file_left_from_an_earlier_day_keeps_that_days_name(tmp_path):
    path = tmp_path / "monkeytown.log"
    path.write_text("from a run before midnight\n")
    os.utime(path, (EVENING, EVENING))
    handler = handler_at(path, MIDNIGHT + 7200)  # the platform came back after midnight
    log(handler, "after", MIDNIGHT + 7200)
    handler.close()
    assert lines(tmp_path / "monkeytown.2026-11-29.log") == ["from a run before midnight"]
    assert lines(path) == ["after"]


RECORDS_PER_SIDE = 2000


def write_across_midnight(path: Path, writer: int, crossing: multiprocessing.Barrier) -> None:
    """One process's records: the evening's, then (all processes at once) the night's."""
    handler = handler_at(path, EVENING)
    for n in range(RECORDS_PER_SIDE):
        log(handler, f"{writer} evening {n}", MIDNIGHT - 1 + n / RECORDS_PER_SIDE)
    crossing.wait(timeout=30)  # every process then finds the same file and races to rename it
    for n in range(RECORDS_PER_SIDE):
        log(handler, f"{writer} night {n}", MIDNIGHT + n / RECORDS_PER_SIDE)
    handler.close()


def test_processes_writing_across_midnight_lose_no_line_and_rename_the_file_once(tmp_path):
    path = tmp_path / "monkeytown.log"
    context = multiprocessing.get_context("fork")
    writers = 4
    crossing = context.Barrier(writers)
    processes = [context.Process(target=write_across_midnight, args=(path, w, crossing)) for w in range(writers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [process.exitcode for process in processes] == [0] * writers
    assert sorted(p.name for p in tmp_path.iterdir()) == ["monkeytown.2026-11-29.log", "monkeytown.log"]
    for name, side in [("monkeytown.2026-11-29.log", "evening"), ("monkeytown.log", "night")]:
        written = lines(tmp_path / name)
        assert len(written) == writers * RECORDS_PER_SIDE
        for w in range(writers):  # each process's lines whole and in its order
            assert [line for line in written if line.startswith(f"{w} ")] == [
                f"{w} {side} {n}" for n in range(RECORDS_PER_SIDE)]


def test_housekeeping_prunes_an_old_rotated_file_and_keeps_the_live_one(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    handler = handler_at(folder / "monkeytown.log", EVENING)
    log(handler, "yesterday", EVENING)
    log(handler, "today", MIDNIGHT)
    dated, live = folder / "monkeytown.2026-11-29.log", folder / "monkeytown.log"
    long_ago = (datetime.now(UTC) - timedelta(days=60)).timestamp()
    for path in (dated, live):  # both old: the live one stays because this process holds it open
        os.utime(path, (long_ago, long_ago))
    try:
        outcome = prune_log_files(tmp_path, datetime.now(UTC) - timedelta(days=30))
    finally:
        handler.close()
    assert outcome.rows == 1
    assert not dated.exists()
    assert lines(live) == ["today"]


def test_the_day_boundary_is_the_next_utc_midnight():
    assert next_midnight(MIDNIGHT - 0.001) == MIDNIGHT
    assert next_midnight(MIDNIGHT) == MIDNIGHT + 86400
