"""A day of raw.events archived as Parquet with its manifest, in a local folder and in a real S3 API (moto's
server over HTTP): round trip, reruns, days a crash left half done, faults injected at the server, corruption,
and the checksum PostgreSQL computes over the same rows."""

from __future__ import annotations

import hashlib
import os
import random
from datetime import UTC, date, datetime, time, timedelta

import orjson
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest_api.contracts import AGENT_RUNS_ENDPOINT, EVENTS_ENDPOINT
from ingest_api.door import admit
from ingest_api.landing import LandingJob, Provenance, land
from orchestration.retention import day_file
from orchestration.retention.checksum import CHECKSUM_METHOD, RowsChecksum
from orchestration.retention.columns import ARROW_SCHEMA, SCHEMA_VERSION, batch_from_rows
from orchestration.retention.day_file import write_day_file
from orchestration.retention.errors import (
    ArchiveConflict,
    ArchiveStoreError,
    ArchiveVerificationError,
    InvalidRows,
)
from orchestration.retention.layout import data_object_key, manifest_key
from orchestration.retention.manifest import Manifest
from orchestration.retention.parquet_day import DayState, Outcome, archive_day, verify_day
from orchestration.retention.postgres_day import DaySelection, postgres_day_checksum, stream_day_rows
from orchestration.retention.restore import archived_days, iter_day_rows, read_day
from orchestration.retention.store import StoreLimits, open_archive_store
from tests.orchestration.s3_server import S3_ENV, Fault, admin_client, new_bucket

DAY = date(2026, 3, 14)
FAST_FAILING = StoreLimits(connect_timeout=1, read_timeout=5, max_attempts=2)


def synthetic_rows(day: date, count: int, seed: int = 1) -> list[tuple]:
    """Rows shaped like raw.events' game events, in archive order, with the awkward cases: NULLs, an empty
    string, an anonymous player, text beyond ASCII."""
    rng = random.Random(seed)
    start = datetime.combine(day, time(), UTC)
    rows = []
    for number in range(count):
        occurred = start + timedelta(microseconds=rng.randrange(86_400_000_000))
        kind = rng.choice(["game_start", "move", "move", "move", "game_end"])
        session = rng.choice([f"s_{rng.randrange(40)}", "joueur-é", None])
        payload = {"game_id": f"g{number // 20}", "move_type": "capture", "data": {"from": "e2", "to": "e4"},
                   "note": rng.choice(["", "ok", "ünïcødé ♞"])}
        rows.append((
            f"ev-{seed}-{number}", kind, 1, occurred, occurred if number % 3 else None,
            occurred + timedelta(milliseconds=5) if number % 2 else None,
            occurred + timedelta(milliseconds=rng.randrange(50, 900)), session,
            session or f"anon-ev-{seed}-{number}", session is None, rng.choice([f"g{number // 20}", "", None]),
            "client", orjson.dumps(payload).decode(),
        ))
    return sorted(rows, key=lambda row: (row[3], row[0]))


def checksum_of(rows: list[tuple]) -> str:
    checksum = RowsChecksum()
    checksum.add(batch_from_rows(rows))
    return checksum.hexdigest()


def never_read():
    raise AssertionError("the rows of a verified day must not be read")
    yield  # a generator that fails only when iterated


ROWS = synthetic_rows(DAY, 2_500)


@pytest.fixture(autouse=True)
def s3_credentials(monkeypatch):
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def faulty_store(proxy, moto_endpoint):
    """An S3 store reached through the fault-injecting proxy."""
    yield open_archive_store(f"s3://{new_bucket(moto_endpoint)}/archive", s3_endpoint_url=proxy.url,
                             limits=FAST_FAILING)
    proxy.disarm()


def damage(store, key: str) -> bytes:
    """Changes one byte of a stored object behind the archive's back; returns the damaged bytes."""
    data = bytearray(store.get(key))
    data[len(data) // 2] ^= 0xFF
    if hasattr(store, "root"):
        path = store.root / key
        os.chmod(path, 0o644)
        path.write_bytes(bytes(data))
    else:
        admin_client(store.client.meta.endpoint_url).put_object(Bucket=store.bucket, Key=f"{store.prefix}/{key}",
                                                                Body=bytes(data))
    return bytes(data)


# --- round trip ------------------------------------------------------------------------------------------------

def test_a_day_round_trips_with_its_manifest(store):
    result = archive_day(store, "game", DAY, iter(ROWS))
    assert result.outcome is Outcome.ARCHIVED and result.verification.state is DayState.VERIFIED
    assert list(iter_day_rows(store, "game", DAY)) == ROWS
    assert result.verification.rows == len(ROWS)
    assert result.verification.rows_checksum == checksum_of(ROWS)

    manifest = Manifest.from_json(store.get("game/2026/03/14/manifest.json"))
    data = store.get(f"game/2026/03/14/{manifest.data_object}")
    assert manifest == result.manifest
    assert manifest.data_object == f"events-{hashlib.sha256(data).hexdigest()[:16]}.parquet"
    assert (manifest.family, manifest.day, manifest.rows, manifest.bytes, manifest.sha256) == (
        "game", DAY, len(ROWS), len(data), hashlib.sha256(data).hexdigest())
    assert (manifest.min_occurred_at, manifest.max_occurred_at) == (ROWS[0][3], ROWS[-1][3])
    assert (manifest.schema_version, manifest.checksum_method, manifest.compression) == (
        SCHEMA_VERSION, CHECKSUM_METHOD, "zstd")
    assert manifest.rows_checksum == checksum_of(ROWS) and manifest.created_at.tzinfo is not None
    assert sorted(info.key for info in store.list()) == [f"game/2026/03/14/{manifest.data_object}",
                                                         "game/2026/03/14/manifest.json"]


def test_the_parquet_file_has_the_explicit_schema_zstd_and_rows_in_order(local_store):
    archive_day(local_store, "game", DAY, ROWS)
    table = read_day(local_store, "game", DAY)
    metadata = pq.ParquetFile(pa.BufferReader(local_store.get(
        data_object_key("game", DAY, archived_days(local_store)[0].data_object)))).metadata
    assert table.schema.equals(ARROW_SCHEMA)
    assert str(table.schema.field("occurred_at").type) == "timestamp[us, tz=UTC]"
    assert {metadata.row_group(0).column(i).compression for i in range(len(ARROW_SCHEMA))} == {"ZSTD"}
    assert table.column("event_id").to_pylist() == [row[0] for row in ROWS]


def test_row_groups_have_a_fixed_size_whatever_the_batching(local_store, monkeypatch):
    monkeypatch.setattr(day_file, "ROW_GROUP_ROWS", 1000)
    monkeypatch.setattr(day_file, "CONVERT_ROWS", 300)
    archive_day(local_store, "game", DAY, ROWS)
    manifest = archived_days(local_store, "game")[0]
    metadata = pq.ParquetFile(pa.BufferReader(local_store.get(data_object_key("game", DAY, manifest.data_object)))
                              ).metadata
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [1000, 1000, 500]
    assert list(iter_day_rows(local_store, "game", DAY)) == ROWS


def test_the_same_rows_make_the_same_bytes(tmp_path):
    first = archive_day(open_archive_store(f"file://{tmp_path}/one"), "game", DAY, ROWS,
                        clock=lambda: datetime(2026, 6, 1, tzinfo=UTC))
    second = archive_day(open_archive_store(f"file://{tmp_path}/two"), "game", DAY, ROWS,
                         clock=lambda: datetime(2026, 6, 2, tzinfo=UTC))
    assert (first.manifest.sha256, first.manifest.data_object) == (second.manifest.sha256,
                                                                    second.manifest.data_object)


def test_the_rows_checksum_ignores_order_and_batching_but_not_content():
    shuffled = ROWS[:]
    random.Random(3).shuffle(shuffled)
    in_batches = RowsChecksum()
    for start in range(0, len(shuffled), 700):
        in_batches.add(batch_from_rows(shuffled[start:start + 700]))
    assert in_batches.hexdigest() == checksum_of(ROWS)
    row = ROWS[5]
    for changed in (row[:12] + (row[12].replace("e2", "e3"),), row[:3] + (row[3] + timedelta(microseconds=1),)
                    + row[4:], row[:10] + ("" if row[10] is None else None,) + row[11:]):
        assert checksum_of(ROWS[:5] + [changed] + ROWS[6:]) != checksum_of(ROWS)


def test_an_empty_day_archives_zero_rows(store):
    result = archive_day(store, "system", DAY, [])
    assert (result.outcome, result.manifest.rows, result.manifest.min_occurred_at) == (Outcome.ARCHIVED, 0, None)
    assert read_day(store, "system", DAY).num_rows == 0


# --- reruns and days left half done ---------------------------------------------------------------------------

def test_a_rerun_skips_a_verified_day_without_reading_its_rows(store):
    archive_day(store, "game", DAY, ROWS)
    before = list(store.list())
    again = archive_day(store, "game", DAY, never_read())
    assert again.outcome is Outcome.ALREADY_ARCHIVED and again.verification.ok
    assert list(store.list()) == before


def test_a_day_with_its_data_object_but_no_manifest_is_finished(store, tmp_path):
    written = write_day_file(ROWS, DAY, tmp_path / "crashed.parquet")
    data_key = data_object_key("game", DAY, f"events-{written.sha256[:16]}.parquet")
    store.put_if_absent(data_key, written.path)  # a run that crashed before its manifest
    stored = store.head(data_key)
    assert verify_day(store, "game", DAY).state is DayState.NO_MANIFEST

    result = archive_day(store, "game", DAY, ROWS)
    assert result.outcome is Outcome.FINISHED and result.verification.ok
    assert store.head(data_key) == stored  # the earlier run's object, not a rewrite
    assert list(iter_day_rows(store, "game", DAY)) == ROWS


def test_a_day_with_its_manifest_but_no_data_object_is_finished(local_store):
    first = archive_day(local_store, "game", DAY, ROWS)
    (local_store.root / data_object_key("game", DAY, first.manifest.data_object)).unlink()
    assert verify_day(local_store, "game", DAY).state is DayState.DATA_MISSING

    result = archive_day(local_store, "game", DAY, ROWS)
    assert result.outcome is Outcome.FINISHED and result.verification.ok
    assert result.manifest == first.manifest


def test_a_manifest_naming_other_rows_is_never_replaced(local_store):
    first = archive_day(local_store, "game", DAY, ROWS)
    (local_store.root / data_object_key("game", DAY, first.manifest.data_object)).unlink()
    with pytest.raises(ArchiveConflict, match="nothing was written"):
        archive_day(local_store, "game", DAY, ROWS[1:])
    assert Manifest.from_json(local_store.get(manifest_key("game", DAY))) == first.manifest
    assert [info.key for info in local_store.list()] == [manifest_key("game", DAY)]


# --- corruption -----------------------------------------------------------------------------------------------

def test_a_corrupted_data_object_fails_verification_and_is_never_overwritten(store):
    manifest = archive_day(store, "game", DAY, ROWS).manifest
    key = data_object_key("game", DAY, manifest.data_object)
    damaged = damage(store, key)

    verification = verify_day(store, "game", DAY)
    assert verification.state is DayState.MISMATCH and "sha256" in verification.problems[0]
    with pytest.raises(ArchiveVerificationError, match="never overwritten"):
        archive_day(store, "game", DAY, ROWS)
    with pytest.raises(ArchiveVerificationError):
        read_day(store, "game", DAY)
    assert store.get(key) == damaged


def test_a_manifest_that_does_not_match_its_data_fails_verification(local_store):
    manifest = archive_day(local_store, "game", DAY, ROWS).manifest
    path = local_store.root / manifest_key("game", DAY)
    os.chmod(path, 0o644)
    path.write_bytes(Manifest(**{**manifest.__dict__, "rows": manifest.rows + 1}).to_json())
    verification = verify_day(local_store, "game", DAY)
    assert verification.state is DayState.MISMATCH
    assert verification.problems == (f"rows: manifest {len(ROWS) + 1}, data object {len(ROWS)}",)


@pytest.mark.parametrize("rows, reason", [
    ([ROWS[1], ROWS[0]], "not strictly ordered"),
    (ROWS[:2000] + ROWS[1999:], "not strictly ordered"),  # a repeat across a batch boundary
    (ROWS + [ROWS[-1][:3] + (datetime.combine(DAY + timedelta(days=1), time(), UTC),) + ROWS[-1][4:]],
     "not all within the UTC day"),
    ([ROWS[0][:12] + ({"a": 1},)], "payload::text"),
    ([(None,) + ROWS[0][1:]], "column event_id holds 1 null"),
    ([ROWS[0][:12]], "13 columns"),
])
def test_rows_that_are_not_one_ordered_day_are_refused_and_nothing_is_stored(store, rows, reason, monkeypatch):
    monkeypatch.setattr(day_file, "CONVERT_ROWS", 1000)
    with pytest.raises(InvalidRows, match=reason):
        archive_day(store, "game", DAY, rows)
    assert list(store.list()) == []


# --- faults injected at the S3 server -------------------------------------------------------------------------

def test_an_s3_error_on_the_manifest_leaves_no_manifest_and_the_rerun_finishes(faulty_store, proxy):
    fault = proxy.arm(Fault("PUT", "/manifest.json", "error"))
    with pytest.raises(ArchiveStoreError, match="InternalError"):
        archive_day(faulty_store, "game", DAY, ROWS)
    proxy.disarm()
    assert fault.hits == FAST_FAILING.max_attempts
    assert verify_day(faulty_store, "game", DAY).state is DayState.NO_MANIFEST
    assert [info.key.endswith(".parquet") for info in faulty_store.list()] == [True]

    result = archive_day(faulty_store, "game", DAY, ROWS)
    assert result.outcome is Outcome.FINISHED and result.verification.ok
    assert list(iter_day_rows(faulty_store, "game", DAY)) == ROWS


def test_a_connection_dropped_on_the_data_object_leaves_nothing_and_the_rerun_archives(faulty_store, proxy):
    proxy.arm(Fault("PUT", ".parquet", "drop"))
    with pytest.raises(ArchiveStoreError):
        archive_day(faulty_store, "game", DAY, ROWS)
    proxy.disarm()
    assert list(faulty_store.list()) == []

    result = archive_day(faulty_store, "game", DAY, ROWS)
    assert result.outcome is Outcome.ARCHIVED and result.verification.ok


def test_a_data_object_whose_answer_was_lost_is_recognized_on_the_retry(faulty_store, proxy):
    fault = proxy.arm(Fault("PUT", ".parquet", "lost_answer", times=1))
    result = archive_day(faulty_store, "game", DAY, ROWS)
    assert fault.hits == 1 and result.verification.ok
    assert list(iter_day_rows(faulty_store, "game", DAY)) == ROWS


def test_an_s3_error_while_reading_back_fails_the_archive_and_the_rerun_verifies(faulty_store, proxy):
    proxy.arm(Fault("GET", ".parquet", "error"))
    with pytest.raises(ArchiveStoreError):
        archive_day(faulty_store, "game", DAY, ROWS)
    proxy.disarm()
    assert archive_day(faulty_store, "game", DAY, never_read()).outcome is Outcome.ALREADY_ARCHIVED


# --- against PostgreSQL ---------------------------------------------------------------------------------------

def land_day(url: str, received_at: datetime, occurred: list[datetime]) -> None:
    """Game events at the `occurred` moments (ties ordered by event_id) and one agent run, through the door."""
    events = []
    for number, moment in enumerate(occurred):
        session = "élodie" if number % 4 else "not valid!"  # the second: an anonymous player
        fields = [{"type": "game_start", "game_type": "chess", "session_id": session},
                  {"type": "move", "move_type": "capture", "data": {"from": "e2", "to": "e4", "n": 1.50}},
                  {"type": "game_end", "duration": 12.5, "winner": None}][number % 3]
        event_id = f"pg-{'aB'[number % 2]}{number}"  # bytewise B < a, in most locales a < B
        events.append({"event_id": event_id, "game_id": f"g{number // 3}", "timestamp": moment.isoformat(),
                       **fields})
    rows = [admit(event, received_at, endpoint=EVENTS_ENDPOINT) for event in events]
    rows.append(admit({"run_id": "r1", "agent_name": "BetaBuilder", "files_created": 1, "files_modified": 2,
                       "status": "succeeded", "finished_at": occurred[0].isoformat()}, received_at,
                      endpoint=AGENT_RUNS_ENDPOINT))
    assert all(not hasattr(row, "reason") for row in rows), [row.message for row in rows if hasattr(row, "reason")]
    with psycopg.connect(url, autocommit=True) as conn:
        land(conn, [LandingJob(rows, [], Provenance())])


def test_the_archive_checksum_equals_the_one_postgresql_computes(make_database, local_store):
    now = datetime.now(UTC).replace(microsecond=0)
    day = (now - timedelta(hours=2)).date()
    first = max(datetime.combine(day, time(), UTC), now - timedelta(hours=23))
    url = make_database()
    land_day(url, now, [first + timedelta(seconds=number // 2, microseconds=number // 2 * 7) for number in range(12)])
    games = DaySelection(day, {"source": ("client",)})

    with psycopg.connect(url, autocommit=True) as conn:
        result = archive_day(local_store, "game", day, stream_day_rows(conn, games, fetch_rows=5))
        in_postgres = postgres_day_checksum(conn, games)
        whole_day = postgres_day_checksum(conn, DaySelection(day))
        moves = postgres_day_checksum(conn, DaySelection(day, {"type": ("move",), "source": ("client",)}))
        rows_in_postgres = list(stream_day_rows(conn, games))
        conn.execute("DELETE FROM raw.events WHERE event_id = 'pg-a4'")
        after_a_loss = postgres_day_checksum(conn, games)

    assert (in_postgres.rows, in_postgres.rows_checksum) == (12, result.verification.rows_checksum)
    assert list(iter_day_rows(local_store, "game", day)) == rows_in_postgres
    assert (whole_day.rows, moves.rows) == (13, 4)
    assert after_a_loss.rows == 11 and after_a_loss.rows_checksum != result.verification.rows_checksum
