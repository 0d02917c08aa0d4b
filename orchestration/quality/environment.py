"""What the quality checks read from the environment (part of orchestration.environment, which the code location
exports as it loads): the warehouse as a SQLAlchemy URL for GX, and where Data Docs and validation results go.
No GX import."""

from __future__ import annotations

from pathlib import Path

from orchestration.instance import as_sqlalchemy_url

GX_URL_VARIABLE = "MONKEYTOWN_GX_URL"
DATA_DOCS_VARIABLE = "MONKEYTOWN_DATA_DOCS_DIR"
RESULTS_VARIABLE = "MONKEYTOWN_GX_RESULTS_DIR"


def with_session_options(sqlalchemy_url: str, schema: str) -> str:
    """The suites read views in one schema (GX wants it in the connection, not on each asset), and JIT off:
    it compiles for ~0.5 s on each of GX's statements whose estimate is high, which its many short ones are."""
    separator = "&" if "?" in sqlalchemy_url else "?"
    return f"{sqlalchemy_url}{separator}options=-csearch_path%3D{schema}%20-cjit%3Doff"


def quality_environment(database_url: str, home: Path) -> dict[str, str]:
    """great_expectations.yml names these variables; their values never go into the folder."""
    home = Path(home).resolve()
    return {
        GX_URL_VARIABLE: with_session_options(as_sqlalchemy_url(database_url), "quality"),
        DATA_DOCS_VARIABLE: str(home / "data_docs"),
        RESULTS_VARIABLE: str(home / "gx" / "validations"),
    }
