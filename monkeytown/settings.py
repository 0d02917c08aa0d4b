"""The MONKEYTOWN_* settings, read once at start-up (never at import time)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


class SettingsError(ValueError):
    """A setting that cannot work; its message says what and how to fix it, in one line."""


#: Where `monkeytown serve code-server` listens, and the webserver and daemon look for it, unless
#: MONKEYTOWN_CODE_SERVER_PORT says otherwise.
DEFAULT_CODE_SERVER_PORT = 4000


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str | None
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    dagster_port: int = 3000
    dagster_host: str = "127.0.0.1"  # the Dagster UI's address; unset: MONKEYTOWN_API_HOST
    code_server_host: str = "127.0.0.1"  # where `serve code-server` listens and the webserver and daemon reach it
    code_server_port: int | None = None  # None: `up` picks a free loopback port, `serve` uses DEFAULT_CODE_SERVER_PORT
    read_database_url: str | None = None  # a replica for the read endpoints, the dashboard and BI; None: the primary
    redis_url: str | None = None  # the state several API hosts share (the rate limit's counts); None: per machine
    write_keys: tuple[str, ...] = ()
    read_keys: tuple[str, ...] = ()  # none: the write keys also read
    github_webhook_secret: str | None = None
    rate_limit: str = "1000/second"
    allowed_origins: tuple[str, ...] = ()  # browser Origins besides the API's own that may open the stream; "*": any
    stream_rate_limit: str = "200/second"  # messages per WebSocket connection, within the key's own rate limit
    stream_ping_seconds: int = 25  # the stream's keep-alive ping; a client that misses one is closed at the next
    archive_url: str = ""
    s3_endpoint_url: str | None = None
    bi_password: str | None = field(default=None, repr=False)
    retain_game_events_days: int = 90
    retain_system_events_days: int = 30
    player_anonymize_days: int = 90  # without activity, then the player's identifiers become a keyed hash
    player_delete_days: int = 365  # without activity, then the player is deleted
    anonymization_key: str | None = field(default=None, repr=False)  # None: one generated under home
    prune_history_days: int = 30  # GX results, Dagster run and tick history, log files
    console_logs: bool = False  # every process's log lines on the console, not only in $MONKEYTOWN_HOME/logs


def _port(env: dict, name: str, default: int | None) -> int | None:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        port = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a port number; set it to an integer between 1 and 65535") from None
    if not 0 < port < 65536:
        raise SettingsError(f"{name}={port} is out of range; set it to an integer between 1 and 65535")
    return port


def _count(env: dict, name: str, default: int, unit: str, too_few: str) -> int:
    """A whole number of `unit`s, 1 or more; `too_few` says what 0 would mean."""
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number of {unit}s; set it to a whole number, 1 or more") from None
    if value < 1:
        raise SettingsError(f"{name}={value} {too_few}; set it to 1 {unit} or more")
    return value


def _days(env: dict, name: str, default: int) -> int:
    return _count(env, name, default, "day", "keeps nothing")


def _seconds(env: dict, name: str, default: int) -> int:
    return _count(env, name, default, "second", "is too short")


def _flag(env: dict, name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name}={env.get(name)!r} is not a yes/no value; set it to 1 or 0")


def _keys(env: dict, name: str) -> tuple[str, ...]:
    return tuple(key.strip() for key in (env.get(name) or "").split(",") if key.strip())


def _anonymization_key(env: dict) -> str | None:
    key = env.get("MONKEYTOWN_ANONYMIZATION_KEY") or None
    if key is not None and len(key) < 16:
        raise SettingsError("MONKEYTOWN_ANONYMIZATION_KEY is shorter than 16 characters, which a keyed hash cannot "
                            "keep secret; set a long random value or unset it to use a generated one")
    return key


def _database_url(env: dict, name: str = "MONKEYTOWN_DATABASE_URL",
                  unset: str = "for the embedded database") -> str | None:
    url = env.get(name) or None
    if url and not (url.startswith("postgresql://") or url.startswith("postgres://") or "=" in url):
        raise SettingsError(
            f"{name}={url!r} is not a libpq URL; use postgresql://user@host:port/dbname or unset it {unset}")
    return url


_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _redis_url(env: dict) -> str | None:
    url = env.get("MONKEYTOWN_REDIS_URL") or None
    if url and not url.startswith(_REDIS_SCHEMES):
        raise SettingsError(f"MONKEYTOWN_REDIS_URL={describe_redis(url)!r} is not a Redis URL; use "
                            "redis://[:password@]host:port/db (rediss:// for TLS) or unset it to count per machine")
    return url


def describe_redis(url: str) -> str:
    """A Redis URL without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{parts.netloc.rpartition('@')[2]}"))


def _player_days(env: dict) -> tuple[int, int]:
    anonymize = _days(env, "MONKEYTOWN_PLAYER_ANONYMIZE_DAYS", 90)
    delete = _days(env, "MONKEYTOWN_PLAYER_DELETE_DAYS", 365)
    if delete < anonymize:
        raise SettingsError(f"MONKEYTOWN_PLAYER_DELETE_DAYS={delete} is shorter than MONKEYTOWN_PLAYER_ANONYMIZE_DAYS="
                            f"{anonymize}; a player is anonymized before deletion, so set it to {anonymize} or more")
    return anonymize, delete


def load_settings(env: dict | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    player_anonymize_days, player_delete_days = _player_days(env)
    home = Path(env.get("MONKEYTOWN_HOME") or ".monkeytown").expanduser().resolve()
    return Settings(
        home=home,
        database_url=_database_url(env),
        api_host=env.get("MONKEYTOWN_API_HOST") or "127.0.0.1",
        api_port=_port(env, "MONKEYTOWN_API_PORT", 8000),
        dagster_port=_port(env, "MONKEYTOWN_DAGSTER_PORT", 3000),
        dagster_host=env.get("MONKEYTOWN_DAGSTER_HOST") or env.get("MONKEYTOWN_API_HOST") or "127.0.0.1",
        code_server_host=env.get("MONKEYTOWN_CODE_SERVER_HOST") or "127.0.0.1",
        code_server_port=_port(env, "MONKEYTOWN_CODE_SERVER_PORT", None),
        read_database_url=_database_url(env, "MONKEYTOWN_READ_DATABASE_URL", "to read from the primary"),
        redis_url=_redis_url(env),
        write_keys=_keys(env, "MONKEYTOWN_WRITE_KEYS"),
        read_keys=_keys(env, "MONKEYTOWN_READ_KEYS"),
        github_webhook_secret=env.get("MONKEYTOWN_GITHUB_WEBHOOK_SECRET") or None,
        rate_limit=env.get("MONKEYTOWN_RATE_LIMIT") or "1000/second",
        allowed_origins=tuple(origin.rstrip("/") for origin in _keys(env, "MONKEYTOWN_ALLOWED_ORIGINS")),
        stream_rate_limit=env.get("MONKEYTOWN_STREAM_RATE_LIMIT") or "200/second",
        stream_ping_seconds=_seconds(env, "MONKEYTOWN_STREAM_PING_SECONDS", 25),
        archive_url=env.get("MONKEYTOWN_ARCHIVE_URL") or f"file://{home}/archive",
        s3_endpoint_url=env.get("MONKEYTOWN_S3_ENDPOINT_URL") or None,
        bi_password=env.get("MONKEYTOWN_BI_PASSWORD") or None,
        console_logs=_flag(env, "MONKEYTOWN_CONSOLE_LOGS"),
        retain_game_events_days=_days(env, "MONKEYTOWN_RETAIN_GAME_EVENTS_DAYS", 90),
        retain_system_events_days=_days(env, "MONKEYTOWN_RETAIN_SYSTEM_EVENTS_DAYS", 30),
        player_anonymize_days=player_anonymize_days,
        player_delete_days=player_delete_days,
        anonymization_key=_anonymization_key(env),
        prune_history_days=_days(env, "MONKEYTOWN_PRUNE_HISTORY_DAYS", 30),
    )
