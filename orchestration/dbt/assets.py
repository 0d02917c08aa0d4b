"""The dbt models as Dagster assets; their dbt tests become asset checks."""

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.dbt.project import prepare_manifest


@dbt_assets(manifest=prepare_manifest())
def monkeytown_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()
