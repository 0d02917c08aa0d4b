"""dbt invocations as the benchmark times them: the venv's dbt in the project directory, the environment
`monkeytown dbt` gives it, but a target and log directory of the benchmark's own (dbt_project/target is
shared with whoever else runs dbt here), and each run_results.json copied away before the next one."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_command, dbt_environment, dbt_vars_args

#: Node kinds in run_results.json, by the first part of their unique_id.
KINDS = {"model": "models", "test": "tests", "unit_test": "unit_tests"}


class DbtFailed(RuntimeError):
    pass


def node_times(run_results: dict) -> dict[str, dict]:
    """unique_id -> status and execution_time (s), and the time of its execute phase (the SQL, roughly)."""
    nodes = {}
    for result in run_results.get("results", []):
        execute = next((t for t in result.get("timing", []) if t.get("name") == "execute"), None)
        execute_s = None
        if execute and execute.get("started_at") and execute.get("completed_at"):
            started = _parse_time(execute["started_at"])
            execute_s = round(_parse_time(execute["completed_at"]) - started, 3)
        nodes[result["unique_id"]] = {"status": result["status"], "s": round(result["execution_time"], 3),
                                      "execute_s": execute_s}
    return nodes


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def kind_totals(nodes: dict[str, dict]) -> dict[str, float]:
    """Summed execution_time per node kind (models, tests, unit_tests)."""
    totals = dict.fromkeys(KINDS.values(), 0.0)
    for unique_id, node in nodes.items():
        kind = KINDS.get(unique_id.split(".", 1)[0])
        if kind:
            totals[kind] += node["s"]
    return {kind: round(total, 3) for kind, total in totals.items()}


def summarize_run_results(path: Path) -> dict:
    """What one run_results.json says: dbt's own elapsed time, per-node times and their sums per kind."""
    data = json.loads(path.read_text())
    nodes = node_times(data)
    return {"elapsed_s": round(data.get("elapsed_time", 0.0), 3), "nodes": nodes, **kind_totals(nodes),
            "failed": sorted(uid for uid, node in nodes.items() if node["status"] in ("error", "fail"))}


class Dbt:
    """Runs dbt against `database_url` with target and logs under `work`."""

    def __init__(self, database_url: str, work: Path):
        self.work = work
        self.target = work / "target"
        self.saved = work / "run_results"
        self.log = work / "dbt.log"
        self.saved.mkdir(parents=True, exist_ok=True)
        self.env = dbt_environment(database_url) | {
            "DBT_TARGET_PATH": str(self.target), "DBT_LOG_PATH": str(work / "dbt-logs"),
            "DBT_USE_COLORS": "false",
        }
        self.invocations = 0

    @property
    def partial_parse_file(self) -> Path:
        return self.target / "partial_parse.msgpack"

    def __call__(self, label: str, *args: str, extra_vars: dict | None = None) -> dict:
        """Wall time of one dbt invocation (process start to exit) and what its run_results.json says;
        `extra_vars` beside the vars every invocation passes."""
        results = self.target / "run_results.json"
        results.unlink(missing_ok=True)
        self.invocations += 1
        with self.log.open("a") as log:
            log.write(f"\n===== {label}: dbt {' '.join(args)}\n")
            log.flush()
            started = time.perf_counter()
            # the vars Dagster's runs pass too: a parse with other vars would not serve them partially
            process = subprocess.run(dbt_command([*args, *dbt_vars_args(extra_vars)]), cwd=DBT_PROJECT_DIR,
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            wall = time.perf_counter() - started
        outcome = {"label": label, "args": list(args), "wall_s": round(wall, 3)}
        if results.exists():
            kept = self.saved / f"{self.invocations:03d}-{label}.json"
            shutil.copyfile(results, kept)
            outcome.update(summarize_run_results(kept))
        if process.returncode != 0:
            failed = ", ".join(outcome.get("failed", [])) or "see the log"
            raise DbtFailed(f"dbt {' '.join(args)} ({label}) exited {process.returncode}: {failed}\n"
                            + self.log.read_text(errors="replace")[-3000:])
        return outcome
