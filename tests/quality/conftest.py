from tests.orchestration.conftest import dbt_manifest  # noqa: F401  (the same once-per-session parse)
