"""Great Expectations' validation results older than the cutoff, and their Data Docs pages. GX Core 1.x keeps a
result at <results>/<suite>/<run name>/<run time>/<batch>.json and renders it to the same key under
<data docs>/validations/ as .html; the run time in the key (UTC) says how old it is. No GX import."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from orchestration.retention.housekeeping_outcome import GX_VALIDATION_RESULTS, PruneOutcome

RUN_TIME_FORMAT = "%Y%m%dT%H%M%S.%fZ"  # GX's RunIdentifier.to_tuple


def gx_results_dir(home: Path) -> Path:
    """Where the validation results store writes (orchestration.quality.environment names the same folder)."""
    return Path(home).resolve() / "gx" / "validations"


def data_docs_dir(home: Path) -> Path:
    """The Data Docs site (orchestration.quality.environment names the same folder)."""
    return Path(home).resolve() / "data_docs"


def run_time(key_file: Path) -> datetime:
    """When the validation ran: its key's run time folder, or the file's mtime when that is not one."""
    try:
        return datetime.strptime(key_file.parent.name, RUN_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromtimestamp(key_file.stat().st_mtime, UTC)


def _keys(root: Path, suffix: str) -> dict[Path, Path]:
    """Each file under `root` with this suffix, by its key (the path relative to `root`, without the suffix)."""
    if not root.is_dir():
        return {}
    return {path.relative_to(root).with_suffix(""): path for path in root.rglob(f"*{suffix}") if path.is_file()}


def expired_results(results: Path, pages: Path, cutoff: datetime) -> Iterator[tuple[Path | None, Path | None]]:
    """(result, page) of every validation run before `cutoff`; either may be missing (a page whose result went
    in an earlier run, a result not rendered yet)."""
    result_files, page_files = _keys(results, ".json"), _keys(pages, ".html")
    for key in sorted(result_files.keys() | page_files.keys()):
        result, page = result_files.get(key), page_files.get(key)
        if run_time(result or page) < cutoff:
            yield result, page


def _remove_empty_parents(path: Path, root: Path) -> None:
    """The run time, run name and suite folders a removed key leaves empty, up to (not including) `root`."""
    for parent in path.parents:
        if parent == root or root not in parent.parents:
            return
        try:
            parent.rmdir()
        except OSError:  # not empty: another key lives there
            return


def _remove(path: Path | None, root: Path) -> int | None:
    """Removes the file and the folders it leaves empty; returns the bytes freed, None when there was none."""
    if path is None:
        return None
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:  # removed since it was listed
        return None
    _remove_empty_parents(path, root)
    return size


def prune_gx_results(home: Path, cutoff: datetime, *, dry_run: bool = False) -> PruneOutcome:
    """Validation results run before `cutoff`, each with its Data Docs page. The index page still lists them
    until Data Docs are rebuilt (every checkpoint run does: GX lists only pages whose result exists)."""
    results, pages = gx_results_dir(home), data_docs_dir(home) / "validations"
    expired = list(expired_results(results, pages, cutoff))
    if dry_run:
        size = sum(path.stat().st_size for pair in expired for path in pair if path is not None)
        return PruneOutcome(GX_VALIDATION_RESULTS, sum(1 for result, _ in expired if result), size, dry_run=True)
    removed = freed = 0
    for result, page in expired:
        result_size, page_size = _remove(result, results), _remove(page, pages)
        removed += result_size is not None
        freed += (result_size or 0) + (page_size or 0)
    return PruneOutcome(GX_VALIDATION_RESULTS, removed, freed)
