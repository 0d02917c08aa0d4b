"""The dbt docs asset: `dbt docs generate` against a real database the dbt project was built in, the site published
under MONKEYTOWN_HOME in one rename, and a failed build that leaves the published site as it was. One real generate
for the module; the publishing and the sensor's decision are tested on their own, without dbt."""

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from ingest_api.contracts import AGENT_RUNS_ENDPOINT
from orchestration.dbt.docs import DBT_DOCS, DbtDocsSiteResource, dbt_docs
from orchestration.dbt.docs_schedules import daily_dbt_docs, docs_request
from orchestration.dbt.docs_site import (
    FINGERPRINT_FILE,
    SITE_FILES,
    builds_folder,
    project_fingerprint,
    publish,
    published_fingerprint,
    published_folder,
    remove_old_builds,
    stage_site,
)
from orchestration.shared.warehouse import WarehouseResource
from tests.dbt.test_marts import agent_runs, script
from tests.dbt.test_staging import land_events, monkeytown_dbt


def materialize_docs(database_url: str, home: Path, timeout_seconds: float = 600) -> dg.ExecuteInProcessResult:
    return dg.materialize([dbt_docs()], raise_on_error=False, resources={
        "warehouse": WarehouseResource(conninfo=database_url),
        "dbt_docs_site": DbtDocsSiteResource(home=str(home), timeout_seconds=timeout_seconds)})


@pytest.fixture(scope="module")
def warehouse(make_database):
    """A database with the scripted games landed and the models up to marts.games built."""
    url = make_database()
    land_events(url, script())
    land_events(url, agent_runs(), endpoint=AGENT_RUNS_ENDPOINT)
    result = monkeytown_dbt(url, "run", "--select", "+games")
    assert result.returncode == 0, result.stdout[-3000:]
    return url


@pytest.fixture(scope="module")
def published(warehouse, tmp_path_factory):
    """MONKEYTOWN_HOME after the asset's one real run: (home, its result)."""
    home = tmp_path_factory.mktemp("home")
    return home, materialize_docs(warehouse, home)


def test_the_asset_generates_the_docs_from_the_database_and_publishes_them(published):
    home, result = published
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    site = home / "dbt_docs"
    assert site.is_symlink() and {path.name for path in site.iterdir()} == {*SITE_FILES, FINGERPRINT_FILE}
    catalog = json.loads((site / "catalog.json").read_text())
    games = catalog["nodes"]["model.monkeytown.games"]  # columns as the database reports them: dbt read it
    assert games["metadata"]["schema"] == "marts"
    assert {"game_id", "game_type", "winner", "duration_seconds"} <= games["columns"].keys()
    manifest = json.loads((site / "manifest.json").read_text())
    assert manifest["nodes"]["model.monkeytown.games"]["compiled_code"]
    assert b"manifest.json" in (site / "index.html").read_bytes()
    assert published_fingerprint(home) == project_fingerprint()
    [materialized] = result.get_asset_materialization_events()
    metadata = materialized.materialization.metadata
    assert metadata["url_path"].value == "/dbt-docs/" and metadata["models"].value > 10
    # nothing of the build is left beside the published site: dbt's target folder is gone
    assert {path.name for path in builds_folder(home).iterdir()} == {site.resolve().name, ".publish.lock"}


def test_a_failed_generate_leaves_the_published_site_in_place(published, warehouse):
    home, _ = published
    before = (home / "dbt_docs").resolve()
    index = (home / "dbt_docs" / "index.html").read_bytes()
    result = materialize_docs(warehouse, home, timeout_seconds=0.2)  # dbt cannot even start in that time
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert "did not finish within 0.2 s" in failure.step_failure_data.error.message
    assert "published before stays in place" in failure.step_failure_data.error.message
    assert (home / "dbt_docs").resolve() == before
    assert (home / "dbt_docs" / "index.html").read_bytes() == index
    assert {path.name for path in builds_folder(home).iterdir()} == {before.name, ".publish.lock"}


def test_the_docs_follow_the_core_marts_outside_the_core_run():
    spec = dbt_docs()
    parents = {key.to_user_string() for key in spec.asset_deps[DBT_DOCS]}
    assert {"marts/games", "marts/moves", "marts/players"} <= parents


# --- publishing, without dbt -----------------------------------------------------------------------------------


def fake_target(folder: Path, label: str) -> Path:
    folder.mkdir(parents=True)
    for name in SITE_FILES:
        (folder / name).write_text(f"{label} {name}\n" * 2000)
    return folder


def publish_fake(home: Path, label: str) -> Path:
    builds = builds_folder(home)
    builds.mkdir(parents=True, exist_ok=True)
    site = builds / label
    stage_site(fake_target(home / "targets" / label, label), builds, f"fp-{label}").rename(site)
    publish(site, published_folder(home))
    remove_old_builds(builds, keep=site)
    return site


def test_a_reader_sees_a_whole_site_at_every_moment_of_many_publications(tmp_path):
    publish_fake(tmp_path, "b000")
    seen, stop = [], threading.Event()

    def read_while_publishing():
        while not stop.is_set():
            try:
                text = (tmp_path / "dbt_docs" / "index.html").read_text()
            except OSError:
                seen.append(False)  # missing, for an instant
                continue
            label = text.split(" ", 1)[0]
            seen.append(text == f"{label} index.html\n" * 2000)  # whole, never cut short

    reader = threading.Thread(target=read_while_publishing)
    reader.start()
    try:
        for number in range(1, 40):
            publish_fake(tmp_path, f"b{number:03d}")
    finally:
        stop.set()
        reader.join(timeout=30)
    assert seen and all(seen)
    assert (tmp_path / "dbt_docs" / "index.html").read_text().startswith("b039 ")
    assert sorted(path.name for path in builds_folder(tmp_path).iterdir()) == ["b039"]


def test_a_site_missing_a_file_is_never_staged(tmp_path):
    publish_fake(tmp_path, "b001")
    target = fake_target(tmp_path / "targets" / "broken", "broken")
    (target / "catalog.json").unlink()
    with pytest.raises(FileNotFoundError):
        stage_site(target, builds_folder(tmp_path), "fp")
    assert (tmp_path / "dbt_docs" / "index.html").read_text().startswith("b001 ")
    assert [path.name for path in builds_folder(tmp_path).iterdir()] == ["b001"]


def test_a_plain_folder_in_the_way_is_replaced_by_the_link(tmp_path):
    (tmp_path / "dbt_docs").mkdir()
    (tmp_path / "dbt_docs" / "index.html").write_text("by hand")
    publish_fake(tmp_path, "b001")
    assert (tmp_path / "dbt_docs").is_symlink()
    assert os.readlink(tmp_path / "dbt_docs") == os.path.join("dbt_docs.builds", "b001")
    assert [path.name for path in builds_folder(tmp_path).iterdir()] == ["b001"]


# --- when it runs --------------------------------------------------------------------------------------------------


def test_the_sensor_asks_for_a_build_while_the_published_site_is_missing_or_describes_other_sources(tmp_path):
    first = docs_request(tmp_path, "f" * 64)
    assert isinstance(first, dg.RunRequest) and first.run_key == "dbt-docs-" + "f" * 16
    publish_fake(tmp_path, "b001")  # its fingerprint: fp-b001
    assert isinstance(docs_request(tmp_path, "fp-b001"), dg.SkipReason)
    assert isinstance(docs_request(tmp_path, "another"), dg.RunRequest)


def test_the_fingerprint_follows_the_project_sources_not_its_output(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "games.sql").write_text("select 1")
    before = project_fingerprint(tmp_path)
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "manifest.json").write_text("{}")
    assert project_fingerprint(tmp_path) == before
    (tmp_path / "models" / "games.yml").write_text("models: [{name: games, description: new}]")
    assert project_fingerprint(tmp_path) != before


def test_the_daily_build_has_a_run_key_per_day():
    tick = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
    assert daily_dbt_docs(dg.build_schedule_context(scheduled_execution_time=tick)).run_key == "dbt-docs-2026-11-30"
    assert daily_dbt_docs.cron_schedule == "0 5 * * *"
