"""GET /sdk/monkeytown.js: the JavaScript client for games in a browser (ingest_api/static/sdk/), which a game page
on any site may load."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, send_from_directory

bp = Blueprint("sdk", __name__)

CLIENT_PATH = "/sdk/monkeytown.js"
#: Short: the address carries no version, so a new client reaches pages within minutes; the ETag keeps
#: revalidation cheap.
CACHE_SECONDS = 300
CROSS_ORIGIN_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Cross-Origin-Resource-Policy": "cross-origin",  # also for pages that require it (COEP)
    "X-Content-Type-Options": "nosniff",
}


@bp.get(CLIENT_PATH)
def client():
    folder = Path(current_app.static_folder) / "sdk"
    response = send_from_directory(folder, "monkeytown.js", mimetype="text/javascript", max_age=CACHE_SECONDS)
    response.headers.update(CROSS_ORIGIN_HEADERS)
    return response
