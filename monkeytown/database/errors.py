"""Database errors as the platform reports them."""

from __future__ import annotations


def first_line(error: BaseException) -> str:
    """A database error in one line (libpq messages run over several), for logs and one-line answers."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
