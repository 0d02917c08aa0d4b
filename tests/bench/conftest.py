"""The benchmarks' own tests check that each benchmark runs and reports completely; what they measure does not
depend on which PostgreSQL server runs them, so CI's second pass (another server) leaves them out."""

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if item.nodeid.startswith("tests/bench/"):
            item.add_marker(pytest.mark.server_independent)
