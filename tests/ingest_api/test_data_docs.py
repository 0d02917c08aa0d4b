"""GET /data-docs serves the Data Docs the quality checks built under MONKEYTOWN_HOME, as static files."""

import shutil

import pytest


@pytest.fixture
def docs_dir(app):
    folder = app.extensions["monkeytown.settings"].home.resolve() / "data_docs"
    shutil.rmtree(folder, ignore_errors=True)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_before_the_first_validation_the_answer_says_how_they_get_built(client, docs_dir):
    response = client.get("/data-docs/index.html")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    assert "pipeline" in response.get_json()["message"]


def test_the_index_and_its_pages_are_served(client, docs_dir):
    (docs_dir / "validations").mkdir(parents=True)
    (docs_dir / "index.html").write_text("<h1>Data Docs</h1>")
    (docs_dir / "validations" / "run.html").write_text("<p>raw_events</p>")
    assert client.get("/data-docs").headers["Location"].endswith("/data-docs/index.html")
    assert client.get("/data-docs/index.html").data == b"<h1>Data Docs</h1>"
    assert client.get("/data-docs/validations/run.html").data == b"<p>raw_events</p>"
    assert client.get("/data-docs/../dev_write_key").status_code == 404
    assert client.get("/data-docs/missing.html").status_code == 404
