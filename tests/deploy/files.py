"""What the deploy/ tests read: the files themselves, the MONKEYTOWN_* settings they name, and the settings and
roles the platform knows (there is no container runtime or cluster here: these tests read, never run)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
DEPLOY = REPOSITORY / "deploy"
SETTING = re.compile(r"\bMONKEYTOWN_[A-Z0-9_]+\b")


def documents(path: Path) -> list[dict]:
    """Every YAML document of the file (a manifest may hold several)."""
    return [document for document in yaml.safe_load_all(path.read_text()) if document is not None]


def settings_named(path: Path) -> set[str]:
    """Every MONKEYTOWN_* name the file mentions, in values, keys and comments alike."""
    return set(SETTING.findall(path.read_text()))


#: Where the platform reads its settings: monkeytown/settings.py, and gunicorn's own (workers, worker class) in the
#: API's gunicorn configuration.
SETTINGS_SOURCES = (REPOSITORY / "monkeytown" / "settings.py", REPOSITORY / "ingest_api" / "gunicorn_conf.py")


def known_settings() -> set[str]:
    return {name for source in SETTINGS_SOURCES for name in SETTING.findall(source.read_text())}
