"""GET /data-docs/ serves the Data Docs the quality checks built under MONKEYTOWN_HOME, as static files."""

import pytest

from tests.conftest import SECRET_BESIDE_DOCS


@pytest.fixture
def built(docs_home):
    pages = docs_home / "data_docs"
    (pages / "validations").mkdir(parents=True)
    (pages / "index.html").write_text("<h1>Data Docs</h1>")
    (pages / "validations" / "run.html").write_text("<p>raw_events</p>")
    return pages


@pytest.mark.parametrize("path", ["/data-docs/", "/data-docs/index.html"])
def test_before_the_first_validation_the_answer_says_how_they_get_built(docs_client, path):
    response = docs_client.get(path)
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    assert "pipeline" in response.get_json()["message"]


@pytest.mark.usefixtures("built")
def test_the_banner_link_with_its_trailing_slash_serves_the_index(docs_client):
    response = docs_client.get("/data-docs/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.data == b"<h1>Data Docs</h1>"


@pytest.mark.usefixtures("built")
def test_without_the_slash_it_redirects_to_the_index_where_relative_links_resolve(docs_client):
    response = docs_client.get("/data-docs")
    assert response.status_code == 302
    assert response.headers["Location"] == "/data-docs/"
    assert docs_client.get("/data-docs", follow_redirects=True).data == b"<h1>Data Docs</h1>"


@pytest.mark.usefixtures("built")
def test_the_index_and_its_pages_are_served_by_name(docs_client):
    assert docs_client.get("/data-docs/index.html").data == b"<h1>Data Docs</h1>"
    assert docs_client.get("/data-docs/validations/run.html").data == b"<p>raw_events</p>"
    missing = docs_client.get("/data-docs/missing.html")
    assert (missing.status_code, missing.get_json()["error"]) == (404, "not_found")


@pytest.mark.parametrize("path", [
    "/data-docs/../dev_write_key",
    "/data-docs/validations/../../dev_write_key",
    "/data-docs/%2e%2e/dev_write_key",
    "/data-docs/..%2fdev_write_key",
    "/data-docs/%2e%2e%2fdev_write_key",
])
def test_no_path_reaches_a_file_outside_the_docs_folder(docs_client, built, docs_home, path):
    assert (built / ".." / "dev_write_key").resolve().read_bytes() == SECRET_BESIDE_DOCS  # it is there to be reached
    response = docs_client.get(path)
    assert response.status_code == 404
    assert SECRET_BESIDE_DOCS not in response.data


@pytest.mark.usefixtures("built")
def test_an_absolute_path_does_not_leave_the_docs_folder(docs_client, docs_home):
    # werkzeug merges the //
    response = docs_client.get(f"/data-docs/{docs_home / 'dev_write_key'}", follow_redirects=True)
    assert response.status_code == 404
    assert SECRET_BESIDE_DOCS not in response.data


@pytest.mark.usefixtures("built")
def test_range_and_conditional_requests_answer_as_the_openapi_document_says(docs_client):
    size = len(b"<h1>Data Docs</h1>")
    part = docs_client.get("/data-docs/index.html", headers={"Range": "bytes=0-3"})
    assert (part.status_code, part.data, part.headers["Content-Range"]) == (206, b"<h1>", f"bytes 0-3/{size}")
    etag = docs_client.get("/data-docs/").headers["ETag"]
    assert docs_client.get("/data-docs/", headers={"If-None-Match": etag}).status_code == 304
    beyond = docs_client.get("/data-docs/index.html", headers={"Range": "bytes=999-"})
    assert (beyond.status_code, beyond.headers["Content-Range"]) == (416, f"bytes */{size}")
    assert beyond.get_json()["error"] == "range_not_satisfiable"
