"""A dbt build that no bad raw row can stop for good (Snowplow's failed events, dbt's --store-failures): when a
node fails on a database error, the raw rows that make it fail on their own are found, quarantined and
announced, and the build runs once more in the same step (a step reports each asset and check once: the second
build reports what the first did not); the run says so in a warning and an observation of the model. A failed
data test is a quality outcome (the checks report it), and a failure no row explains or that the second build
meets again fails the run as before."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, get_asset_key_for_model

from orchestration.dbt.read_window import read_from
from orchestration.dbt.row_finder import find_bad_rows
from orchestration.dbt.set_aside import SetAside, describe_search, set_aside


def build_without_bad_rows(context: dg.AssetExecutionContext, dbt: DbtCliResource, database_url: str,
                           args: list[str]) -> Iterator:
    first = dbt.cli(args, context=context, raise_on_error=False)
    emitted, held = set(), []
    for event in first.stream():
        if isinstance(event, dg.AssetCheckResult) and not event.passed:
            held.append(event)  # a test a bad row made fail: its result comes from the second build
            continue
        emitted.add(event_key(event))
        yield event
    if first.is_successful():
        yield from held
        return
    results = first.get_artifact("run_results.json")
    errors = failed_nodes(results)
    if not errors:  # a failed data test: its check says so, and fails the run as it always did
        yield from held
        raise first.get_error() or dg.Failure(description="dbt build failed")
    context.log.warning(f"dbt build failed: {listed(errors)}. Looking for the raw rows that cause it.")
    manifest = first.get_artifact("manifest.json")
    built = [result["unique_id"] for result in results["results"]]
    searches = find_bad_rows(database_url, manifest, list(errors),
                             lambda conn, unique_id: read_from(conn, manifest, unique_id, built))
    for search in searches:
        context.log.info("row search: " + describe_search(search))
    quarantined = set_aside(database_url, searches, errors, context.run.run_id)
    if not quarantined:
        yield from held
        raise dg.Failure(description=unexplained(errors, searches), allow_retries=True) from first.get_error()
    for done in quarantined:
        context.log.warning(done.summary())
        key = asset_key_of(context, manifest, done.unique_id)
        if key is not None:
            yield dg.AssetObservation(asset_key=key, metadata=done.metadata())
    second = dbt.cli(args, context=context, raise_on_error=False)
    for event in second.stream():
        if event_key(event) not in emitted:
            yield event
    if not second.is_successful():
        again = failed_nodes(second.get_artifact("run_results.json"))
        raise dg.Failure(description=f"dbt build failed again after quarantining {rows_moved(quarantined)}: "
                                     + (listed(again) or "a data test failed")) from second.get_error()


def failed_nodes(run_results: Mapping[str, Any]) -> dict[str, str]:
    """The nodes that errored (not a failed data test, not a unit test), each with its database error."""
    return {result["unique_id"]: database_error(result.get("message"))
            for result in run_results["results"]
            if result["status"] == "error" and not result["unique_id"].startswith("unit_test.")}


def database_error(message: str | None) -> str:
    """dbt's message without its "Database Error in model x (path)" line: the database's first line."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Database Error"):
        return lines[1]
    return lines[0] if lines else "no message"


def listed(errors: Mapping[str, str]) -> str:
    """model.monkeytown.agent_runs: its error; ... as people read them: agent_runs: its error; ..."""
    return "; ".join(f"{unique_id.split('.')[2]}: {error}" for unique_id, error in errors.items())


def event_key(event) -> tuple | None:
    """What Dagster lets a step report once: an output, a materialization, a check's result."""
    if isinstance(event, dg.Output):
        return ("output", event.output_name)
    if isinstance(event, dg.AssetMaterialization):
        return ("materialization", event.asset_key)
    if isinstance(event, dg.AssetCheckResult):
        return ("check", event.asset_key, event.check_name)
    return None


def asset_key_of(context: dg.AssetExecutionContext, manifest: Mapping[str, Any], unique_id: str) -> dg.AssetKey | None:
    """The model's asset, or for a test the model it tests."""
    node = manifest["nodes"][unique_id]
    model = manifest["nodes"].get(node.get("attached_node") or "") if node["resource_type"] == "test" else node
    if model is None:
        return None
    try:
        return get_asset_key_for_model([context.assets_def], model["name"])
    except KeyError:
        return None


def unexplained(errors: Mapping[str, str], searches: list) -> str:
    why = "; ".join(describe_search(search) for search in searches) or "none of the failed nodes reads raw.events"
    return (f"dbt build failed: {listed(errors)}. Nothing was quarantined, as no few rows of raw.events explain it"
            f" ({why}): fix the cause and run again.")


def rows_moved(quarantined: list[SetAside]) -> str:
    count = sum(len(done.event_ids) for done in quarantined)
    return f"{count} row{'s' if count != 1 else ''} (see raw.ingest_errors)"
