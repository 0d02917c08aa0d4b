"""The dbt docs (`dbt docs generate`) as a Dagster asset downstream of the core marts: generated against the
warehouse and published under MONKEYTOWN_HOME, where the API serves them at /dbt-docs/. Built when the code
location loads, from the dbt assets' keys (no `from __future__ import annotations` here: Dagster reads the
context's type from the annotation)."""

import time
from functools import cache
from pathlib import Path

import dagster as dg

from orchestration.dbt.assets import core_models, player_models
from orchestration.dbt.docs_site import DocsGenerationFailed, build_and_publish, project_fingerprint
from orchestration.shared.catalog import DOCS, MARTS, OWNERS
from orchestration.shared.warehouse import WarehouseResource

DBT_DOCS = dg.AssetKey(["docs", "dbt_docs"])
#: About 5 s here (a parse, a compile of every model, the catalog query); ten minutes means something hangs.
GENERATE_TIMEOUT_SECONDS = 600.0


class DbtDocsSiteResource(dg.ConfigurableResource):
    """Where the site is published (MONKEYTOWN_HOME, read at start-up) and how long dbt may take to generate it."""

    home: str
    timeout_seconds: float = GENERATE_TIMEOUT_SECONDS


def dbt_docs_site_resource(home: Path) -> DbtDocsSiteResource:
    return DbtDocsSiteResource(home=str(Path(home).resolve()))


def core_marts() -> list[dg.AssetKey]:
    """The marts the core dbt models build: the docs follow them in the lineage."""
    keys = {key for assets in (core_models(), player_models())
            for key, group in assets.group_names_by_key.items() if group == MARTS}
    return sorted(keys, key=lambda key: key.to_user_string())


@cache
def dbt_docs() -> dg.AssetsDefinition:
    @dg.asset(key=DBT_DOCS, deps=core_marts(), group_name=DOCS, owners=OWNERS, kinds={"dbt"},
              description="The dbt docs site (every model, its columns and tests, the lineage, the columns and sizes"
                          " the database reports), served by the API at /dbt-docs/.")
    def docs(context: dg.AssetExecutionContext, warehouse: WarehouseResource, dbt_docs_site: DbtDocsSiteResource):
        started = time.perf_counter()
        fingerprint = project_fingerprint()
        try:
            site = build_and_publish(warehouse.conninfo, Path(dbt_docs_site.home), dbt_docs_site.timeout_seconds,
                                     fingerprint)
        except DocsGenerationFailed as failed:
            raise dg.Failure(description=f"{failed}\nThe site published before stays in place.",
                             allow_retries=True) from None
        context.log.info(f"published the dbt docs at {site.folder}")
        return dg.MaterializeResult(metadata={
            "url_path": "/dbt-docs/", "folder": str(site.folder), "models": site.models,
            "catalog_relations": site.catalog_relations, "project_fingerprint": fingerprint[:16],
            "seconds": round(time.perf_counter() - started, 1)})

    return docs
