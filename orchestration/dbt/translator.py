"""How dbt nodes become Dagster assets: as dagster-dbt does it (descriptions, column docs, kinds dbt and
postgres), grouped by the layer their folder is, owned by meta.owner or the data engineering team, plus one
edge, so the staging models that read raw.events wait for the contract check and its quarantine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator

from orchestration.shared.catalog import DBT_LAYERS, OWNERS
from orchestration.shared.keys import RAW_EVENTS_QUARANTINE

RAW_EVENTS_SOURCE = "source.monkeytown.raw.events"


def layer_of(fqn: Sequence[str]) -> str | None:
    """The innermost folder that is a layer: models/marts/rollups/x.sql is in rollups, models/staging/raw/ in
    staging."""
    return next((folder for folder in reversed(fqn[1:-1]) if folder in DBT_LAYERS), None)


def owners_of(props: Mapping[str, Any]) -> list[str] | None:
    """`meta: {owner: ...}` on the model (or its config), one owner or a list."""
    owner = props.get("meta", {}).get("owner") or props.get("config", {}).get("meta", {}).get("owner")
    if not owner:
        return None
    return [owner] if isinstance(owner, str) else list(owner)


class MonkeytownTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        dagster_group = dbt_resource_props.get("meta", {}).get("dagster", {}).get("group")
        return dagster_group or layer_of(dbt_resource_props.get("fqn", ()))

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        return owners_of(dbt_resource_props) or super().get_owners(dbt_resource_props) or OWNERS

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if RAW_EVENTS_SOURCE in props.get("depends_on", {}).get("nodes", []):
            return spec.replace_attributes(deps=[*spec.deps, dg.AssetDep(RAW_EVENTS_QUARANTINE)])
        return spec
