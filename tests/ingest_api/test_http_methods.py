"""RFC 9110 on every route: an unsupported method is a JSON 405 with `Allow`; HEAD and OPTIONS as Flask gives them."""

import pytest

WRITE_ROUTES = ["/api/events", "/api/agent-runs"]
READ_ROUTES = ["/healthz", "/readyz", "/openapi.json", "/api/contracts", "/data-docs", "/data-docs/",
               "/data-docs/index.html"]
ALLOWED = {**{route: {"POST", "OPTIONS"} for route in WRITE_ROUTES},
           **{route: {"GET", "HEAD", "OPTIONS"} for route in READ_ROUTES}}


@pytest.fixture
def http(app):
    return app.test_client()


def allow_header(response) -> set[str]:
    return {method.strip() for method in response.headers["Allow"].split(",")}


@pytest.mark.parametrize("route", WRITE_ROUTES + READ_ROUTES)
@pytest.mark.parametrize("method", ["TRACE", "PUT", "DELETE", "PATCH"])
def test_an_unsupported_method_is_a_json_405_that_lists_the_allowed_ones(http, route, method):
    response = http.open(route, method=method)
    assert response.status_code == 405
    assert allow_header(response) == ALLOWED[route]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == "method_not_allowed"
    assert body["message"] == f"{method} is not allowed on {route}; allowed: {', '.join(sorted(ALLOWED[route]))}"
    assert set(body) == {"error", "message"}


@pytest.mark.parametrize("route", WRITE_ROUTES)
def test_reading_a_write_route_is_a_405_not_a_401(http, route):
    response = http.get(route)  # no key: the method is wrong before the key is looked at
    assert (response.status_code, allow_header(response)) == (405, {"POST", "OPTIONS"})
    assert response.get_json()["error"] == "method_not_allowed"


@pytest.mark.parametrize("route", WRITE_ROUTES)
def test_head_of_a_write_route_is_a_405_without_a_body(http, route):
    response = http.head(route)
    assert (response.status_code, allow_header(response)) == (405, {"POST", "OPTIONS"})
    assert response.data == b""


@pytest.mark.parametrize("route", ["/healthz", "/openapi.json", "/api/contracts"])
def test_head_answers_like_get_without_the_body(http, route):
    get, head = http.get(route), http.head(route)
    assert head.status_code == get.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"] == "application/json"
    assert int(head.headers["Content-Length"]) == len(get.data)


@pytest.mark.parametrize("route", WRITE_ROUTES + READ_ROUTES)
def test_options_lists_the_allowed_methods_without_a_key(http, route):
    response = http.options(route)
    assert response.status_code == 200
    assert allow_header(response) == ALLOWED[route]
    assert response.data == b""


def test_an_unknown_path_is_a_json_404_whatever_the_method(http):
    for method in ("GET", "TRACE", "POST"):
        response = http.open("/api/nothing-here", method=method)
        assert response.status_code == 404
        assert response.get_json()["error"] == "not_found"
        assert "Allow" not in response.headers
