"""POST /api/events from a page on another site (the JavaScript client's HTTP path): the preflight is answered for
any Origin without a key, and every answer, an error included, is readable by the page, Retry-After too."""

from __future__ import annotations

import pytest

from tests.ingest_api.factories import move

ORIGIN = "https://game.example"


@pytest.fixture
def http(app):
    return app.test_client()


def test_the_preflight_allows_a_post_with_the_key_and_json_from_any_origin(http):
    response = http.options("/api/events", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Methods"] == "POST"
    allowed = {name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "content-encoding"} <= allowed
    assert int(response.headers["Access-Control-Max-Age"]) > 0


def test_an_accepted_post_and_a_refused_one_are_readable_cross_origin(client, auth):
    accepted = client.post("/api/events", json=[move()], headers={**auth, "Origin": ORIGIN})
    refused = client.post("/api/events", json=[move()], headers={"Origin": ORIGIN})
    assert (accepted.status_code, refused.status_code) == (200, 401)
    for response in (accepted, refused):
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        exposed = {name.strip() for name in response.headers["Access-Control-Expose-Headers"].split(",")}
        assert exposed == {"Retry-After", "X-Request-ID"}
        assert "Access-Control-Allow-Methods" not in response.headers  # a preflight's header only


@pytest.mark.parametrize("path", ["/api/agent-runs", "/api/counters", "/dashboard/panels", "/healthz"])
def test_no_other_path_is_opened_to_other_sites(http, path):
    assert "Access-Control-Allow-Origin" not in http.options(path, headers={"Origin": ORIGIN}).headers
