"""dbt docs, as the pipeline last published them under MONKEYTOWN_HOME (orchestration/dbt/docs_site.py swaps the
whole site in one rename; served as static files: the API never imports dbt); the dashboard links here."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, redirect, send_from_directory

from ingest_api.errors import ApiError

bp = Blueprint("dbt_docs", __name__)
INDEX = "index.html"


def dbt_docs_dir() -> Path:
    return current_app.extensions["monkeytown.settings"].home.resolve() / "dbt_docs"


@bp.get("/dbt-docs")
def dbt_docs_root():
    # index.html reads manifest.json and catalog.json relatively, so it must be read from under /dbt-docs/
    return redirect("/dbt-docs/")


@bp.get("/dbt-docs/")
def dbt_docs_index():
    return dbt_docs_file(INDEX)


@bp.get("/dbt-docs/<path:path>")
def dbt_docs_file(path: str):
    folder = dbt_docs_dir()
    if not (folder / INDEX).is_file():
        raise ApiError(404, "not_found", "no dbt docs yet: the pipeline builds them after its first run of the core"
                                         " models (monkeytown up runs it when events arrive), then daily")
    return send_from_directory(folder, path)
