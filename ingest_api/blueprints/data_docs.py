"""Great Expectations Data Docs, as the pipeline's quality checks last built them under MONKEYTOWN_HOME (served as
static files: the API never imports GX); the dashboard and the `monkeytown up` banner link here."""

from __future__ import annotations

from ingest_api.blueprints.static_docs import static_docs_blueprint

bp = static_docs_blueprint(
    "data_docs", "/data-docs", "data_docs",
    "no Data Docs yet: the quality checks build them on the first pipeline run (monkeytown up runs it when events"
    " arrive; or monkeytown pipeline)")
