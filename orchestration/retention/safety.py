"""Retention's safety rule: nothing is archived, dropped, anonymized or deleted while a blocking data-quality
check's latest run failed (the data may be wrong, and an archive of wrong rows is forever)."""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from orchestration.retention.errors import ArchiveError
from orchestration.shared.check_records import failed_checks


class RetentionRefused(ArchiveError):
    """Retention did not start: the message names the failed checks."""


def blocking_check_keys(definitions: Iterable[dg.AssetsDefinition | dg.AssetChecksDefinition]
                        ) -> list[dg.AssetCheckKey]:
    """Every blocking check these assets and checks carry: the GX suites and the dbt tests that stop a build."""
    return sorted({spec.key for definition in definitions for spec in definition.check_specs if spec.blocking},
                  key=lambda key: key.to_user_string())


def failed_blocking_checks(instance: dg.DagsterInstance, keys: list[dg.AssetCheckKey]) -> list[str]:
    """The checks among these whose latest execution, in any run, failed, by name."""
    return [key.to_user_string() for key in failed_checks(instance, keys)]


def refuse_when_checks_failed(failed: list[str]) -> None:
    if failed:
        raise RetentionRefused(
            f"retention refused: the latest run of {len(failed)} blocking data-quality check(s) failed "
            f"({', '.join(failed[:5])}{', ...' if len(failed) > 5 else ''}); fix the data and run the checks again")
