"""A site the pipeline builds under MONKEYTOWN_HOME, served as static files under a URL prefix (the API never imports
the tool that built it): GET <prefix> redirects to <prefix>/, whose pages link to each other relatively; before the
first build every path answers 404 saying when it will be there; no path leaves the folder (send_from_directory)."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, send_from_directory

from ingest_api.errors import ApiError

INDEX = "index.html"


def static_docs_blueprint(name: str, prefix: str, folder_name: str, not_built_yet: str) -> Blueprint:
    """The blueprint serving $MONKEYTOWN_HOME/<folder_name> at <prefix>/ ; `not_built_yet` is the 404's message."""
    bp = Blueprint(name, __name__)

    @bp.get(prefix, endpoint="root")
    def root():
        return redirect(f"{prefix}/")

    @bp.get(f"{prefix}/", endpoint="index")
    def index():
        return page(INDEX)

    @bp.get(f"{prefix}/<path:path>", endpoint="page")
    def page(path: str):
        folder = current_app.extensions["monkeytown.settings"].home.resolve() / folder_name
        if not (folder / INDEX).is_file():
            raise ApiError(404, "not_found", not_built_yet)
        return send_from_directory(folder, path)

    return bp
