"""`monkeytown up`'s banner: every address a user needs, and the dashboard's with a key only where that key reads."""

from __future__ import annotations

from pathlib import Path

from monkeytown.cli.up import banner
from monkeytown.settings import load_settings

API = "http://127.0.0.1:8000"
DATABASE = "postgresql://postgres@127.0.0.1:5432/monkeytown"


def lines(env: dict) -> dict[str, str]:
    settings = load_settings({"MONKEYTOWN_DATABASE_URL": DATABASE, **env})
    text = banner(settings, API, "http://127.0.0.1:3000", "dev", "mt_dev_secret", Path("/tmp/monkeytown.log"))
    return {line[2:15].strip(): line[15:] for line in text.splitlines() if line.startswith("  ")}


def test_without_read_keys_the_dashboard_address_carries_the_write_key_in_its_fragment():
    shown = lines({})
    assert shown["Dashboard"].startswith(f"{API}/dashboard#key=mt_dev_secret ")
    assert shown["Data Docs"].startswith(f"{API}/data-docs/ ") and shown["dbt docs"].startswith(f"{API}/dbt-docs/ ")
    assert shown["Stream"].startswith("ws://127.0.0.1:8000/api/events/stream ")


def test_the_banner_says_where_the_rate_limit_is_counted_and_never_the_redis_password():
    assert "on this machine" in lines({})["Rate limit"]
    shown = lines({"MONKEYTOWN_REDIS_URL": "redis://:r3dis-pw@cache.internal:6379/0"})["Rate limit"]
    assert shown == "1000/second per write key, counted in Redis at redis://:***@cache.internal:6379/0, shared by " \
                    "every API process"


def test_with_read_keys_the_write_key_is_not_offered_to_the_dashboard():
    shown = lines({"MONKEYTOWN_READ_KEYS": "analyst-key-0123456789"})
    assert shown["Dashboard"].startswith(f"{API}/dashboard ") and "mt_dev_secret" not in shown["Dashboard"]
    assert "analyst-key" not in "".join(shown.values())
