"""The archive store over a local folder and over a real S3 API (moto's server, a process over HTTP): objects
are put only if absent, read back, listed, and every S3 call is bounded."""

from __future__ import annotations

import os
import socket
import time

import pytest

from monkeytown.settings import load_settings
from orchestration.retention.errors import ArchiveStoreError, ObjectMissing
from orchestration.retention.local_store import LocalArchiveStore
from orchestration.retention.s3_store import S3ArchiveStore
from orchestration.retention.store import StoreLimits, archive_store_for, open_archive_store
from tests.orchestration.s3_server import S3_ENV, Fault, new_bucket

FAST_FAILING = StoreLimits(connect_timeout=1, read_timeout=1, max_attempts=2)


@pytest.fixture(autouse=True)
def s3_credentials(monkeypatch):
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return open_archive_store(f"file://{tmp_path}/archive")
    endpoint = request.getfixturevalue("moto_endpoint")
    return open_archive_store(f"s3://{new_bucket(endpoint)}/archive/prefix", s3_endpoint_url=endpoint)


def test_a_put_stores_an_object_that_reads_back(store, tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"parquet bytes" * 1000)
    assert store.put_if_absent("game/2026/01/31/events-0123456789abcdef.parquet", source) is True
    assert store.put_if_absent("game/2026/01/31/manifest.json", b'{"rows": 3}') is True
    assert store.get("game/2026/01/31/events-0123456789abcdef.parquet") == source.read_bytes()
    assert store.get("game/2026/01/31/manifest.json") == b'{"rows": 3}'
    info = store.head("game/2026/01/31/manifest.json")
    assert (info.key, info.size) == ("game/2026/01/31/manifest.json", 11) and info.etag


def test_put_if_absent_never_overwrites(store):
    assert store.put_if_absent("game/2026/01/31/manifest.json", b"first") is True
    before = store.head("game/2026/01/31/manifest.json")
    assert store.put_if_absent("game/2026/01/31/manifest.json", b"second, longer") is False
    assert store.get("game/2026/01/31/manifest.json") == b"first"
    assert store.head("game/2026/01/31/manifest.json") == before


def test_a_missing_object_has_no_head_and_cannot_be_read(store):
    assert store.head("game/2026/01/31/manifest.json") is None
    with pytest.raises(ObjectMissing):
        store.get("game/2026/01/31/manifest.json")


def test_list_yields_the_objects_under_a_prefix_in_key_order(store):
    for key in ("system/2026/01/31/manifest.json", "game/2026/02/01/manifest.json",
                "game/2026/01/31/manifest.json", "game/2026/01/31/events-0123456789abcdef.parquet"):
        store.put_if_absent(key, key.encode())
    assert [info.key for info in store.list("game/2026/01/")] == [
        "game/2026/01/31/events-0123456789abcdef.parquet", "game/2026/01/31/manifest.json"]
    assert [info.key for info in store.list("game/2026/0")] == [
        "game/2026/01/31/events-0123456789abcdef.parquet", "game/2026/01/31/manifest.json",
        "game/2026/02/01/manifest.json"]
    assert len(list(store.list())) == 4
    assert list(store.list("nothing/")) == []
    assert [info.size for info in store.list("system/")] == [len(b"system/2026/01/31/manifest.json")]


@pytest.mark.parametrize("key", ["", "../escape", "game//x", "/absolute", "game/./x"])
def test_a_key_that_could_leave_the_archive_is_refused(store, key):
    with pytest.raises(ValueError):
        store.put_if_absent(key, b"x")


def test_a_local_put_is_a_read_only_file_and_leaves_no_temporary_file(tmp_path):
    store = open_archive_store(f"file://{tmp_path}/archive")
    store.put_if_absent("game/2026/01/31/manifest.json", b"x")
    store.put_if_absent("game/2026/01/31/manifest.json", b"y")
    folder = tmp_path / "archive" / "game" / "2026" / "01" / "31"
    assert os.listdir(folder) == ["manifest.json"]
    assert (folder / "manifest.json").stat().st_mode & 0o222 == 0


def test_the_urls_name_the_store():
    local = open_archive_store("file:///var/archive/")
    s3 = open_archive_store("s3://bucket/some/prefix/", s3_endpoint_url="http://127.0.0.1:1")
    assert isinstance(local, LocalArchiveStore) and str(local.root) == "/var/archive"
    assert isinstance(s3, S3ArchiveStore) and (s3.bucket, s3.prefix, s3.url) == (
        "bucket", "some/prefix", "s3://bucket/some/prefix")
    for url in ("http://example.com/archive", "s3:///prefix", "archive"):
        with pytest.raises(ValueError):
            open_archive_store(url)


def test_the_default_setting_is_a_folder_under_monkeytown_home(tmp_path):
    store = archive_store_for(load_settings({"MONKEYTOWN_HOME": str(tmp_path)}))
    assert isinstance(store, LocalArchiveStore) and store.root == tmp_path / "archive"
    store.put_if_absent("game/2026/01/31/manifest.json", b"x")
    assert (tmp_path / "archive" / "game" / "2026" / "01" / "31" / "manifest.json").read_bytes() == b"x"


def test_the_s3_settings_reach_the_client(tmp_path, moto_endpoint):
    bucket = new_bucket(moto_endpoint)
    store = archive_store_for(load_settings({"MONKEYTOWN_HOME": str(tmp_path),
                                             "MONKEYTOWN_ARCHIVE_URL": f"s3://{bucket}/archive",
                                             "MONKEYTOWN_S3_ENDPOINT_URL": moto_endpoint}))
    assert store.put_if_absent("game/2026/01/31/manifest.json", b"x") is True
    assert store.client.meta.endpoint_url == moto_endpoint
    assert [info.key for info in store.list()] == ["game/2026/01/31/manifest.json"]


def test_a_server_error_on_every_attempt_raises_after_bounded_retries(proxy, moto_endpoint):
    store = open_archive_store(f"s3://{new_bucket(moto_endpoint)}/a", s3_endpoint_url=proxy.url,
                               limits=FAST_FAILING)
    fault = proxy.arm(Fault("PUT", "/manifest.json", "error"))
    try:
        with pytest.raises(ArchiveStoreError, match="InternalError"):
            store.put_if_absent("game/2026/01/31/manifest.json", b"x")
    finally:
        proxy.disarm()
    assert fault.hits == FAST_FAILING.max_attempts
    assert store.head("game/2026/01/31/manifest.json") is None


def test_a_dropped_connection_is_retried(proxy, moto_endpoint):
    store = open_archive_store(f"s3://{new_bucket(moto_endpoint)}/a", s3_endpoint_url=proxy.url,
                               limits=FAST_FAILING)
    fault = proxy.arm(Fault("PUT", "/manifest.json", "drop", times=1))
    try:
        assert store.put_if_absent("game/2026/01/31/manifest.json", b"x") is True
    finally:
        proxy.disarm()
    assert fault.hits == 1 and store.get("game/2026/01/31/manifest.json") == b"x"


def test_a_put_whose_answer_was_lost_finds_its_own_object_on_the_retry(proxy, moto_endpoint):
    store = open_archive_store(f"s3://{new_bucket(moto_endpoint)}/a", s3_endpoint_url=proxy.url,
                               limits=FAST_FAILING)
    proxy.arm(Fault("PUT", "/manifest.json", "lost_answer", times=1))
    try:
        # the first attempt landed; the retry's If-None-Match refuses: reported as "already there", not a failure
        assert store.put_if_absent("game/2026/01/31/manifest.json", b"x") is False
    finally:
        proxy.disarm()
    assert store.get("game/2026/01/31/manifest.json") == b"x"


def test_a_store_that_never_answers_fails_within_the_read_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever reads or answers
        store = open_archive_store("s3://bucket/a", s3_endpoint_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
                                   limits=FAST_FAILING)
        started = time.monotonic()
        with pytest.raises(ArchiveStoreError, match="timeout|timed out"):
            store.head("game/2026/01/31/manifest.json")
    assert time.monotonic() - started < 10


def test_an_unreachable_store_fails_fast():
    store = open_archive_store("s3://bucket/a", s3_endpoint_url="http://127.0.0.1:1", limits=FAST_FAILING)
    started = time.monotonic()
    with pytest.raises(ArchiveStoreError, match="Could not connect"):
        store.get("game/2026/01/31/manifest.json")
    assert time.monotonic() - started < 10


def test_a_client_from_dagster_aws_s3_resource_serves_the_store(moto_endpoint):
    from dagster_aws.s3 import S3Resource

    client = S3Resource(endpoint_url=moto_endpoint, region_name="us-east-1").get_client()
    store = open_archive_store(f"s3://{new_bucket(moto_endpoint)}/a", s3_client=client)
    assert store.put_if_absent("game/2026/01/31/manifest.json", b"x") is True
    assert store.put_if_absent("game/2026/01/31/manifest.json", b"y") is False
    assert store.get("game/2026/01/31/manifest.json") == b"x"
