"""The dbt manifest the code location reads, as the dbt project stands now (`make install` parsed it once, and
nothing parses when the code location loads outside `dagster dev`); and the archive stores the retention tests
use: a local folder, and moto's S3 server (behind a proxy that injects faults) run as a process."""

from functools import cache

import pytest

from orchestration.dbt.project import parse_offline
from orchestration.retention.store import open_archive_store
from tests.orchestration.s3_server import FaultProxy, moto_server, new_bucket


@cache
def parsed_once_per_session() -> None:
    parse_offline()


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest():
    parsed_once_per_session()


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory):
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


@pytest.fixture(scope="module")
def proxy(moto_endpoint):
    with FaultProxy(moto_endpoint) as running:
        yield running


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return open_archive_store(f"file://{tmp_path}/archive")
    endpoint = request.getfixturevalue("moto_endpoint")
    return open_archive_store(f"s3://{new_bucket(endpoint)}/archive", s3_endpoint_url=endpoint)


@pytest.fixture
def local_store(tmp_path):
    return open_archive_store(f"file://{tmp_path}/archive")
