"""The Dagster code location (workspace.yaml loads this module)."""

import dagster as dg

from orchestration.dbt.assets import monkeytown_dbt_models
from orchestration.dbt.resources import dbt_resource

defs = dg.Definitions(
    assets=[monkeytown_dbt_models],
    resources={"dbt": dbt_resource()},
)
