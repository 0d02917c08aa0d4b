"""Running a suite's checkpoint and reading its result: what failed, how badly, which rows, at what cost."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import sqlalchemy


@dataclass(frozen=True)
class RuleFailure:
    rule: str
    field: str | None
    severity: str  # critical or warning
    unexpected_count: int
    rows: list[dict]  # the failing rows, by the suite's key columns
    sample: list


@dataclass
class SuiteOutcome:
    suite: str
    expectations: int = 0
    rows: int = 0
    failures: list[RuleFailure] = field(default_factory=list)
    sql_statements: int = 0
    seconds: float = 0.0
    data_docs: str | None = None

    @property
    def errors(self) -> list[RuleFailure]:
        return [f for f in self.failures if f.severity == "critical"]

    @property
    def warnings(self) -> list[RuleFailure]:
        return [f for f in self.failures if f.severity != "critical"]


def run_suite(context, name: str, key_columns: tuple[str, ...]) -> SuiteOutcome:
    """Runs the checkpoint `name` (which also rebuilds Data Docs), counting the SQL statements GX sends (on
    any engine: GX makes its own; nothing else in these processes speaks SQLAlchemy)."""
    statements = []
    listener = lambda *args: statements.append(1)  # noqa: E731
    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", listener)
    started = time.perf_counter()
    try:
        result = context.checkpoints.get(name).run()
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", listener)
    outcome = SuiteOutcome(name, sql_statements=len(statements), seconds=time.perf_counter() - started)
    for validation in result.run_results.values():
        for item in validation.results:
            outcome.expectations += 1
            outcome.rows = max(outcome.rows, item.result.get("element_count") or 0)
            if not item.success:
                outcome.failures.append(_failure(item, key_columns))
    docs = context.get_docs_sites_urls(site_names=["monkeytown"])
    outcome.data_docs = docs[0].get("site_url") if docs else None
    return outcome


def _failure(item, key_columns: tuple[str, ...]) -> RuleFailure:
    config = item.expectation_config
    meta = config.meta or {}
    indexes = item.result.get("unexpected_index_list") or []
    rows = [{key: _plain(row.get(key)) for key in key_columns} for row in indexes if isinstance(row, dict)]
    severity = getattr(config.severity, "value", config.severity) or "critical"
    unexpected = item.result.get("unexpected_count")
    if unexpected is None and item.exception_info and item.exception_info.get("raised_exception"):
        unexpected = -1  # the expectation itself failed to run
    return RuleFailure(meta.get("rule") or config.type, meta.get("field"), severity, unexpected or 0,
                       rows, list(item.result.get("partial_unexpected_list") or [])[:10])


def _plain(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def summary_metadata(outcome: SuiteOutcome) -> dict:
    """What a data engineer sees on the check in the Dagster UI."""
    return {
        "expectations": outcome.expectations,
        "rows_validated": outcome.rows,
        "errors": len(outcome.errors),
        "warnings": len(outcome.warnings),
        "failed_rules": {f.rule: {"severity": f.severity, "unexpected_count": f.unexpected_count,
                                  "sample_values": [str(v) for v in f.sample]} for f in outcome.failures},
        "sql_statements": outcome.sql_statements,
        "seconds": round(outcome.seconds, 3),
        "data_docs": outcome.data_docs or "",
    }
