"""GET /sdk/monkeytown.js: the JavaScript client as a script any site may load, cached and revalidated by ETag; the
wheel ships it. (What it does in a browser: test_sdk_browser.py.)"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from ingest_api.blueprints.sdk import CACHE_SECONDS

REPO = Path(__file__).resolve().parents[2]
CLIENT_FILE = REPO / "ingest_api" / "static" / "sdk" / "monkeytown.js"


@pytest.fixture
def http(app):
    return app.test_client()


def test_the_client_is_served_as_javascript_that_any_site_may_load(http):
    response = http.get("/sdk/monkeytown.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.data == CLIENT_FILE.read_bytes()
    assert b"global.Monkeytown = Object.freeze(" in response.data


def test_it_is_cached_briefly_and_revalidated_by_its_etag(http):
    first = http.get("/sdk/monkeytown.js")
    assert set(first.headers["Cache-Control"].split(", ")) == {"public", f"max-age={CACHE_SECONDS}"}
    etag = first.headers["ETag"]
    again = http.get("/sdk/monkeytown.js", headers={"If-None-Match": etag})
    assert (again.status_code, again.data) == (304, b"")
    assert again.headers["ETag"] == etag
    assert http.get("/sdk/monkeytown.js", headers={"If-None-Match": '"another"'}).status_code == 200


def test_head_answers_like_get_without_the_body(http):
    get, head = http.get("/sdk/monkeytown.js"), http.head("/sdk/monkeytown.js")
    assert (head.status_code, head.data) == (200, b"")
    assert head.headers["Content-Length"] == get.headers["Content-Length"] == str(len(get.data))


def test_the_dashboard_keeps_its_policy_and_gets_no_cross_origin_header(http):
    page = http.get("/dashboard")
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'; script-src 'self';")
    assert "Access-Control-Allow-Origin" not in page.headers


def test_the_wheel_ships_the_client():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["ingest_api"]
    # setuptools globs as Path.glob does: a `*` never spans a folder
    assert any(CLIENT_FILE in (REPO / "ingest_api").glob(pattern) for pattern in patterns), patterns
