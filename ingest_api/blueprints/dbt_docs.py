"""dbt docs, as the pipeline last published them under MONKEYTOWN_HOME (orchestration/dbt/docs_site.py swaps the
whole site in one rename; served as static files: the API never imports dbt); the dashboard links here. index.html
reads manifest.json and catalog.json relatively, so it is read from under /dbt-docs/."""

from __future__ import annotations

from ingest_api.blueprints.static_docs import static_docs_blueprint

bp = static_docs_blueprint(
    "dbt_docs", "/dbt-docs", "dbt_docs",
    "no dbt docs yet: the pipeline builds them after its first run of the core models (monkeytown up runs it when"
    " events arrive), then daily")
