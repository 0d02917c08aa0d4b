"""Great Expectations Data Docs, as the pipeline's quality checks last built them under MONKEYTOWN_HOME
(served as static files: the API never imports GX); the dashboard and the `monkeytown up` banner link here."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, redirect, send_from_directory

from ingest_api.errors import ApiError

bp = Blueprint("data_docs", __name__)
INDEX = "index.html"


def data_docs_dir() -> Path:
    return current_app.extensions["monkeytown.settings"].home.resolve() / "data_docs"


@bp.get("/data-docs")
def data_docs_root():
    # the pages link to each other relatively, so they must be read from under /data-docs/
    return redirect("/data-docs/")


@bp.get("/data-docs/")
def data_docs_index():
    return data_docs_file(INDEX)


@bp.get("/data-docs/<path:path>")
def data_docs_file(path: str):
    folder = data_docs_dir()
    if not (folder / INDEX).is_file():
        raise ApiError(404, "not_found", "no Data Docs yet: the quality checks build them on the first pipeline run"
                                         " (monkeytown up runs it when events arrive; or monkeytown pipeline)")
    return send_from_directory(folder, path)
