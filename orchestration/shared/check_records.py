"""What Dagster recorded of asset check executions, across runs. DagsterInstance has no public call for the
latest execution of several checks, so its event-log storage is read here and nowhere else."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)


def latest_check_executions(instance: dg.DagsterInstance, check_keys: Sequence[dg.AssetCheckKey]
                            ) -> dict[dg.AssetCheckKey, AssetCheckExecutionRecord]:
    """The latest execution of each of these checks, in any run and partition (a check never run is absent)."""
    return dict(instance.event_log_storage.get_latest_asset_check_execution_by_key(list(check_keys)))


def failed_checks(instance: dg.DagsterInstance, check_keys: Sequence[dg.AssetCheckKey]) -> list[dg.AssetCheckKey]:
    """The checks among these whose latest execution evaluated to failed; one planned or in progress is not."""
    latest = latest_check_executions(instance, check_keys)
    return [key for key in check_keys
            if key in latest and latest[key].status is AssetCheckExecutionRecordStatus.FAILED]
