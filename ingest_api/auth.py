"""Write keys: configured, or one dev key generated once under MONKEYTOWN_HOME; checked in constant time, and
required (with the key's rate limit) by every write endpoint. Read keys: MONKEYTOWN_READ_KEYS for the read
endpoints; unset, the write keys also read (set, they do not: a write key ships inside game clients)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from flask import current_app, g, request

from ingest_api.errors import ApiError
from monkeytown.secret_files import generated_secret

DEV_KEY_FILE = "dev_write_key"


def key_name(key: str) -> str:
    """What logs and the errors table show instead of the key."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:8]


def dev_write_key(home: Path) -> str:
    """The generated development key, created on first use (mode 0600)."""
    return generated_secret(home / DEV_KEY_FILE, prefix="mt_dev_")


def resolve_write_keys(configured: tuple[str, ...], home: Path) -> dict[str, str]:
    """{name: key}: the configured keys, or else the dev key (named "dev")."""
    if configured:
        return {key_name(k): k for k in configured}
    return {"dev": dev_write_key(home)}


class Keys:
    """A set of keys (write or read), each known by its name."""

    def __init__(self, keys: dict[str, str]):
        self._keys = [(name, key.encode()) for name, key in keys.items()]

    def identify(self, authorization: str | None) -> str | None:
        """The key's name for a valid `Bearer <key>` header, else None; compares against every key in
        constant time so timing reveals neither which key nor how much of it matched."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        offered = authorization[7:].strip().encode()
        found = None
        for name, key in self._keys:
            if hmac.compare_digest(offered, key) and found is None:
                found = name
        return found


def resolve_read_keys(configured: tuple[str, ...], write_keys: dict[str, str]) -> dict[str, str]:
    """{name: key}: the configured read keys, or else the write keys."""
    return {key_name(k): k for k in configured} if configured else dict(write_keys)


def _identified(kind: str, authorization: str | None = None) -> str:
    """The name of the request's `kind` (read or write) key (from `authorization`, default the request's
    Authorization header); 401 without a valid one."""
    offered = authorization or request.headers.get("Authorization")
    name = current_app.extensions[f"monkeytown.{kind}_keys"].identify(offered)
    if name is None:
        raise ApiError(401, "unauthorized", f"send a valid {kind} key as Authorization: Bearer <key>",
                       {"WWW-Authenticate": 'Bearer realm="monkeytown"'})
    g.key_name = name
    return name


def require_read_key() -> str:
    """The key's name; 401 without a valid read key."""
    return _identified("read")


def require_write_key(authorization: str | None = None) -> str:
    """The key's name; 401 without a valid key, 429 when the key is over its rate limit."""
    name = _identified("write", authorization)
    limiter = current_app.extensions["monkeytown.rate_limiter"]
    if (wait := limiter.retry_after(name)) is not None:
        rules = ";".join(rule.text for rule in limiter.rules)
        raise ApiError(429, "rate_limited", f"this key is over its rate limit ({rules}); retry in {wait} s",
                       {"Retry-After": str(wait)})
    return name
