"""Secrets generated once and kept under MONKEYTOWN_HOME (mode 0600): the dev write key, the embedded server's
superuser password, the BI role's password, the anonymization key."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def stored_secret(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def generated_secret(path: Path, prefix: str = "") -> str:
    """The secret in `path`, made on first use; two first uses at once keep the same one."""
    if stored := stored_secret(path):
        return stored
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(prefix + secrets.token_urlsafe(24) + "\n")
    try:
        os.link(draft, path)  # appears complete, and the first of two racing writers wins
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return stored_secret(path)


ANONYMIZATION_KEY_FILE = "anonymization_key"


def anonymization_key(home: Path, configured: str | None) -> bytes:
    """The secret of the keyed hash that replaces a player's identifiers: MONKEYTOWN_ANONYMIZATION_KEY, else the
    one generated on first use in $MONKEYTOWN_HOME/anonymization_key. Changing it changes every hash made after."""
    return (configured or generated_secret(home / ANONYMIZATION_KEY_FILE)).encode()
