"""GET /dbt-docs/ serves the dbt docs the pipeline published under MONKEYTOWN_HOME, as static files: dbt_docs is a
link to the current build (orchestration/dbt/docs_site.py), swapped in one rename."""

import os

import pytest

from tests.conftest import SECRET_BESIDE_DOCS

INDEX = b"<html>dbt docs</html>"


def build(docs_home, name: str, index: bytes):
    site = docs_home / "dbt_docs.builds" / name
    site.mkdir(parents=True)
    (site / "index.html").write_bytes(index)
    (site / "manifest.json").write_text('{"nodes": {}}')
    (site / "catalog.json").write_text('{"nodes": {}, "sources": {}}')
    return site


def point_at(docs_home, site) -> None:
    """As the pipeline publishes: a new link renamed over dbt_docs."""
    link = docs_home / "dbt_docs.link"
    link.symlink_to(os.path.relpath(site, docs_home))
    os.replace(link, docs_home / "dbt_docs")


@pytest.fixture
def built(docs_home):
    site = build(docs_home, "20261130T050000Z", INDEX)
    point_at(docs_home, site)
    return site


@pytest.mark.parametrize("path", ["/dbt-docs/", "/dbt-docs/index.html", "/dbt-docs/catalog.json"])
def test_before_the_first_build_the_answer_says_how_they_get_built(docs_client, path):
    response = docs_client.get(path)
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    assert "no dbt docs yet" in response.get_json()["message"]
    assert "pipeline" in response.get_json()["message"]


@pytest.mark.usefixtures("built")
def test_the_dashboard_link_with_its_trailing_slash_serves_the_index(docs_client):
    response = docs_client.get("/dbt-docs/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.data == INDEX


@pytest.mark.usefixtures("built")
def test_without_the_slash_it_redirects_to_the_index_where_relative_links_resolve(docs_client):
    response = docs_client.get("/dbt-docs")
    assert response.status_code == 302
    assert response.headers["Location"] == "/dbt-docs/"
    assert docs_client.get("/dbt-docs", follow_redirects=True).data == INDEX


@pytest.mark.usefixtures("built")
def test_the_files_index_html_reads_are_served_beside_it(docs_client):
    manifest = docs_client.get("/dbt-docs/manifest.json")
    assert (manifest.status_code, manifest.mimetype, manifest.get_json()) == (200, "application/json", {"nodes": {}})
    assert docs_client.get("/dbt-docs/catalog.json").get_json() == {"nodes": {}, "sources": {}}
    missing = docs_client.get("/dbt-docs/missing.html")
    assert (missing.status_code, missing.get_json()["error"]) == (404, "not_found")


def test_a_new_build_is_served_from_the_next_request_on(docs_client, docs_home, built):
    assert docs_client.get("/dbt-docs/").data == INDEX
    point_at(docs_home, build(docs_home, "20261201T050000Z", b"<html>the next day</html>"))
    assert docs_client.get("/dbt-docs/").data == b"<html>the next day</html>"


@pytest.mark.parametrize("path", [
    "/dbt-docs/../dev_write_key",
    "/dbt-docs/../../dev_write_key",
    "/dbt-docs/%2e%2e/dev_write_key",
    "/dbt-docs/..%2fdev_write_key",
    "/dbt-docs/%2e%2e%2fdev_write_key",
    "/dbt-docs/%2e%2e%2f%2e%2e%2fdev_write_key",
    "/dbt-docs/..%5cdev_write_key",
])
def test_no_path_reaches_a_file_outside_the_docs_folder(docs_client, built, docs_home, path):
    # through the link, the filesystem's .. is dbt_docs.builds: a secret there too, to be reached
    (built.parent / "dev_write_key").write_bytes(SECRET_BESIDE_DOCS)
    assert (docs_home / "dev_write_key").read_bytes() == SECRET_BESIDE_DOCS
    response = docs_client.get(path)
    assert response.status_code == 404
    assert SECRET_BESIDE_DOCS not in response.data


@pytest.mark.usefixtures("built")
def test_an_absolute_path_does_not_leave_the_docs_folder(docs_client, docs_home):
    # werkzeug merges the //
    response = docs_client.get(f"/dbt-docs/{docs_home / 'dev_write_key'}", follow_redirects=True)
    assert response.status_code == 404
    assert SECRET_BESIDE_DOCS not in response.data


@pytest.mark.usefixtures("built")
def test_range_and_conditional_requests_answer_as_the_openapi_document_says(docs_client):
    part = docs_client.get("/dbt-docs/index.html", headers={"Range": "bytes=0-5"})
    assert (part.status_code, part.data, part.headers["Content-Range"]) == (206, b"<html>", f"bytes 0-5/{len(INDEX)}")
    etag = docs_client.get("/dbt-docs/").headers["ETag"]
    assert docs_client.get("/dbt-docs/", headers={"If-None-Match": etag}).status_code == 304


def test_the_openapi_document_describes_it_as_it_does_the_data_docs(docs_client):
    paths = docs_client.get("/openapi.json").get_json()["paths"]
    assert {"/dbt-docs", "/dbt-docs/", "/dbt-docs/{path}"} <= paths.keys()
    assert "302" in paths["/dbt-docs"]["get"]["responses"]
    assert "dbt docs" in paths["/dbt-docs/"]["get"]["responses"]["404"]["description"]
