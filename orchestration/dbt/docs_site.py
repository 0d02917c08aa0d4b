"""The dbt docs site: `dbt docs generate` against a database, and its static files published under MONKEYTOWN_HOME
in one rename, so the API (ingest_api/blueprints/dbt_docs.py serves the folder) never serves half a site, and a
failed build leaves the last one in place. No Dagster here."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import fasteners

from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_command, dbt_environment, dbt_vars_args

#: What dbt docs need: index.html reads manifest.json and catalog.json beside it; static_index.html holds all three
#: in one file, to mail or open without a server.
SITE_FILES = ("index.html", "manifest.json", "catalog.json", "static_index.html")
#: Written into each published site: what the project's sources were when it was generated.
FINGERPRINT_FILE = "project_fingerprint.txt"
#: The project's own files; dbt's target/, logs/ and packages are its output.
_SOURCE_SUFFIXES = {".sql", ".yml", ".yaml", ".md", ".csv", ".py"}
_NOT_SOURCES = {"target", "logs", "dbt_packages"}
#: How much of dbt's output a failure carries: its last lines name the error.
_OUTPUT_TAIL = 3000
#: A half-made build (a dot folder) older than this was left by a process that died: no build runs this long.
_ABANDONED_AFTER_SECONDS = 24 * 3600


class DocsGenerationFailed(RuntimeError):
    """`dbt docs generate` failed or timed out; the message ends with dbt's last output."""


@dataclass(frozen=True)
class PublishedSite:
    folder: Path  # the build the published link points at
    models: int
    catalog_relations: int


def published_folder(home: Path) -> Path:
    """Where the API serves the site from: $MONKEYTOWN_HOME/dbt_docs (a link to the current build)."""
    return Path(home).resolve() / "dbt_docs"


def builds_folder(home: Path) -> Path:
    return Path(home).resolve() / "dbt_docs.builds"


def project_fingerprint(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """A hash of the dbt project's sources and the vars every run passes: what the docs describe."""
    digest = hashlib.sha256(" ".join(dbt_vars_args()).encode())
    for path in sorted(source_files(project_dir)):
        digest.update(str(path.relative_to(project_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def source_files(project_dir: Path) -> list[Path]:
    """Without walking target/, where every dagster-dbt invocation leaves a folder of thousands of files."""
    found = []
    for folder, subfolders, files in os.walk(project_dir):
        if Path(folder) == project_dir:
            subfolders[:] = [name for name in subfolders if name not in _NOT_SOURCES]
        found += [Path(folder) / name for name in files if Path(name).suffix in _SOURCE_SUFFIXES]
    return found


def published_fingerprint(home: Path) -> str | None:
    """The fingerprint of the site the API serves now; None before the first build."""
    try:
        return (published_folder(home) / FINGERPRINT_FILE).read_text().strip()
    except OSError:
        return None


def generate_docs(database_url: str, target: Path, timeout_seconds: float) -> None:
    """`dbt docs generate --static` into `target`: dbt compiles every model and reads the catalog (columns, types,
    sizes) from the database."""
    # its own target and log folders: a concurrent dbt run keeps the project's target/manifest.json Dagster reads
    env = dbt_environment(database_url) | {"DBT_LOG_PATH": str(target)}
    args = ["docs", "generate", "--static", "--target-path", str(target), *dbt_vars_args()]
    try:
        result = subprocess.run(dbt_command(args), env=env, cwd=DBT_PROJECT_DIR, capture_output=True, text=True,
                                timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        raise DocsGenerationFailed(f"dbt docs generate did not finish within {timeout_seconds:g} s") from None
    if result.returncode != 0:
        raise DocsGenerationFailed(f"dbt docs generate failed (exit {result.returncode}):\n"
                                   + (result.stdout + result.stderr)[-_OUTPUT_TAIL:])


def build_and_publish(database_url: str, home: Path, timeout_seconds: float, fingerprint: str) -> PublishedSite:
    """Generates the site beside the published one, then publishes it; on any failure the published site stays
    as it was and nothing of the attempt is left behind."""
    builds = builds_folder(home)
    builds.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix=".target-", dir=builds))
    try:
        generate_docs(database_url, target, timeout_seconds)
        staging = stage_site(target, builds, fingerprint)
    finally:
        shutil.rmtree(target, ignore_errors=True)
    # two builds at once (the daily schedule and the sensor) publish and clean up one after the other
    with fasteners.InterProcessLock(str(builds / ".publish.lock")):
        site = builds / f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
        staging.rename(site)
        publish(site, published_folder(home))
        remove_old_builds(builds, keep=site)
    return PublishedSite(site, models=count_models(site / "manifest.json"),
                         catalog_relations=count_catalog_relations(site / "catalog.json"))


def stage_site(target: Path, builds: Path, fingerprint: str) -> Path:
    """The site's files out of dbt's target folder into a new folder beside the builds (a dot name: not one yet)."""
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=builds))
    try:
        for name in SITE_FILES:
            shutil.copyfile(target / name, staging / name)
        (staging / FINGERPRINT_FILE).write_text(fingerprint + "\n")
        staging.chmod(0o755)  # mkdtemp's 0700 would shut out an API that runs as another user
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def publish(site: Path, published: Path) -> None:
    """Points `published` at `site` in one rename of a link: every file a reader opens comes whole from the old
    site or the new, never missing or half written."""
    link = site.parent / f".link-{site.name}"
    link.symlink_to(os.path.relpath(site, published.parent))
    if published.is_dir() and not published.is_symlink():  # a plain folder put there by hand: removed with the builds
        published.rename(site.parent / f"replaced-{site.name}")
    os.replace(link, published)


def remove_old_builds(builds: Path, keep: Path) -> None:
    """Every finished build but the published one, and what a dead process left half made; a request that already
    opened a file still reads it to the end."""
    for entry in builds.iterdir():
        half_made = entry.name.startswith(".")
        if entry == keep or entry.name == ".publish.lock":
            continue
        if half_made and time.time() - entry.lstat().st_mtime < _ABANDONED_AFTER_SECONDS:
            continue  # another build's target or staging folder, still in use
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def count_models(manifest: Path) -> int:
    return sum(1 for node in json.loads(manifest.read_bytes())["nodes"].values() if node["resource_type"] == "model")


def count_catalog_relations(catalog: Path) -> int:
    """The models and sources whose columns the database described."""
    parsed = json.loads(catalog.read_bytes())
    return len(parsed["nodes"]) + len(parsed["sources"])
