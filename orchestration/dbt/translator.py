"""How dbt nodes become Dagster assets: as dagster-dbt does it, plus one edge, so the staging models that
read raw.events wait for the contract check and its quarantine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator

from orchestration.quality.assets import QUARANTINE_KEY

RAW_EVENTS_SOURCE = "source.monkeytown.raw.events"


class MonkeytownTranslator(DagsterDbtTranslator):
    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if RAW_EVENTS_SOURCE in props.get("depends_on", {}).get("nodes", []):
            return spec.replace_attributes(deps=[*spec.deps, dg.AssetDep(QUARANTINE_KEY)])
        return spec
