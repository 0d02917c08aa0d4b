"""A fingerprint of the effective settings that reveals none of their secrets: one digest per setting, plain for a
non-secret value, keyed (HMAC under the anonymization key) for a secret, null for an unset secret; and which
settings differ between two fingerprints, by name."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from monkeytown.settings import Settings

#: A setting is secret when its field hides it from repr or its name says so (write_keys, read_keys,
#: github_webhook_secret, anonymization_key, bi_password; and any such setting added later).
_SECRET_NAME = re.compile(r"key|secret|password|token")
_DIGEST_HEX = 16  # 64 bits: enough to tell two values apart, never to find one
_KEYED = "keyed:"
_PLAIN = "sha256:"


@dataclasses.dataclass(frozen=True)
class SettingsFingerprint:
    fingerprint: str
    settings: dict[str, str | None]  # setting name -> digest
    key_id: str  # names the key of the keyed digests without revealing it


def settings_fingerprint(settings: Settings, key: bytes) -> SettingsFingerprint:
    digests: dict[str, str | None] = {}
    for spec in dataclasses.fields(settings):
        value = getattr(settings, spec.name)
        if _is_secret(spec):
            digests[spec.name] = _keyed(key, spec.name, value)
        elif spec.name.endswith("_url") and isinstance(value, str):
            public, password = _split_password(value)
            digests[spec.name] = _plain(public)
            if password:
                digests[f"{spec.name}.password"] = _keyed(key, f"{spec.name}.password", password)
        else:
            digests[spec.name] = _plain(value)
    key_id = hmac.new(key, b"monkeytown settings fingerprint", hashlib.sha256).hexdigest()[:_DIGEST_HEX]
    whole = json.dumps({"settings": digests, "key_id": key_id}, sort_keys=True).encode()
    return SettingsFingerprint(hashlib.sha256(whole).hexdigest()[:32], digests, key_id)


def changed_settings(previous: dict | None, current: SettingsFingerprint) -> list[str]:
    """The names of the settings whose digests differ from `previous` (a recorded fingerprint's settings and
    key_id); none without one. Under another key two keyed digests cannot be compared: then secrets count as
    changed only when set or unset, and the anonymization key as changed."""
    if not previous:
        return []
    before = previous.get("settings") or {}
    same_key = previous.get("key_id") == current.key_id
    changed = {"anonymization_key"} if not same_key else set()
    for name in before.keys() | current.settings.keys():
        old, new = before.get(name), current.settings.get(name)
        if old == new or (not same_key and _is_keyed(old) and _is_keyed(new)):
            continue
        changed.add(name)
    return sorted(changed)


def _is_secret(spec: dataclasses.Field) -> bool:
    return not spec.repr or bool(_SECRET_NAME.search(spec.name))


def _is_keyed(digest: str | None) -> bool:
    return bool(digest) and digest.startswith(_KEYED)


def _canonical(value: object) -> bytes:
    if isinstance(value, tuple | list):
        value = sorted(str(item) for item in value)
    return json.dumps(value, default=str, sort_keys=True).encode()


def _plain(value: object) -> str:
    return _PLAIN + hashlib.sha256(_canonical(value)).hexdigest()[:_DIGEST_HEX]


def _keyed(key: bytes, name: str, value: object) -> str | None:
    if value in (None, "", ()):
        return None
    message = name.encode() + b"\0" + _canonical(value)
    return _KEYED + hmac.new(key, message, hashlib.sha256).hexdigest()[:_DIGEST_HEX]


def _split_password(url: str) -> tuple[str, str | None]:
    """(the URL without its password, the password): a libpq URL or key=value string (a password may sit in its
    query too), or any other URL with user:password@ in it. Anything libpq cannot parse counts as a password."""
    if url.startswith(("postgresql://", "postgres://")) or ("=" in url and "://" not in url):
        try:
            params = conninfo_to_dict(url)
        except psycopg.ProgrammingError:
            return "", url
        password = params.pop("password", None)
        return json.dumps(params, sort_keys=True, default=str), password
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}@{host}")), parts.password
