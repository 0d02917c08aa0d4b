"""The dbt manifest the code location reads, as the dbt project stands now: `make install` parsed it once, and
nothing parses when the code location loads outside `dagster dev`."""

from functools import cache

import pytest

from orchestration.dbt.project import parse_offline


@cache
def parsed_once_per_session() -> None:
    parse_offline()


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest():
    parsed_once_per_session()
