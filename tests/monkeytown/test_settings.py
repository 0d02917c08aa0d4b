"""The MONKEYTOWN_* settings: defaults, parsing, and one clear line for a value that cannot work."""

from __future__ import annotations

import pytest

from monkeytown.secret_files import anonymization_key
from monkeytown.settings import SettingsError, describe_redis, load_settings


def test_the_defaults_are_the_contracts():
    settings = load_settings({})
    assert (settings.api_host, settings.api_port, settings.dagster_port) == ("127.0.0.1", 8000, 3000)
    assert (settings.retain_game_events_days, settings.retain_system_events_days) == (90, 30)
    assert (settings.player_anonymize_days, settings.player_delete_days, settings.prune_history_days) == (90, 365, 30)
    assert settings.anonymization_key is None
    assert settings.archive_url == f"file://{settings.home}/archive"
    assert settings.console_logs is False and settings.database_url is None


def test_the_services_addresses_default_to_one_machine_and_follow_their_settings():
    settings = load_settings({})
    assert (settings.dagster_host, settings.code_server_host, settings.code_server_port) == ("127.0.0.1", "127.0.0.1",
                                                                                              None)
    assert settings.read_database_url is None
    # the UI listens where the API does unless told otherwise, as `up` has always run it
    assert load_settings({"MONKEYTOWN_API_HOST": "0.0.0.0"}).dagster_host == "0.0.0.0"
    settings = load_settings({"MONKEYTOWN_API_HOST": "0.0.0.0", "MONKEYTOWN_DAGSTER_HOST": "10.0.0.5",
                              "MONKEYTOWN_CODE_SERVER_HOST": "code-server", "MONKEYTOWN_CODE_SERVER_PORT": "4100",
                              "MONKEYTOWN_READ_DATABASE_URL": "postgresql://reader@replica/monkeytown"})
    assert (settings.dagster_host, settings.code_server_host, settings.code_server_port) == ("10.0.0.5", "code-server",
                                                                                              4100)
    assert settings.read_database_url == "postgresql://reader@replica/monkeytown"


def test_write_and_read_keys_are_comma_separated_lists():
    settings = load_settings({"MONKEYTOWN_WRITE_KEYS": " w1, w2 ,", "MONKEYTOWN_READ_KEYS": "r1"})
    assert (settings.write_keys, settings.read_keys) == (("w1", "w2"), ("r1",))
    assert load_settings({}).read_keys == ()


def test_retention_periods_are_read_as_days():
    settings = load_settings({"MONKEYTOWN_RETAIN_GAME_EVENTS_DAYS": "120", "MONKEYTOWN_RETAIN_SYSTEM_EVENTS_DAYS": "7"})
    assert (settings.retain_game_events_days, settings.retain_system_events_days) == (120, 7)


@pytest.mark.parametrize(("name", "value", "says"), [
    ("MONKEYTOWN_RETAIN_GAME_EVENTS_DAYS", "ninety", "not a number of days"),
    ("MONKEYTOWN_RETAIN_SYSTEM_EVENTS_DAYS", "0", "keeps nothing"),
    ("MONKEYTOWN_CONSOLE_LOGS", "maybe", "not a yes/no value"),
    ("MONKEYTOWN_PLAYER_DELETE_DAYS", "30", "shorter than MONKEYTOWN_PLAYER_ANONYMIZE_DAYS"),
    ("MONKEYTOWN_ANONYMIZATION_KEY", "short", "shorter than 16 characters"),
    ("MONKEYTOWN_PRUNE_HISTORY_DAYS", "-1", "keeps nothing"),
    ("MONKEYTOWN_API_PORT", "70000", "out of range"),
    ("MONKEYTOWN_DATABASE_URL", "mysql://x", "not a libpq URL"),
    ("MONKEYTOWN_READ_DATABASE_URL", "mysql://replica", "not a libpq URL"),
    ("MONKEYTOWN_CODE_SERVER_PORT", "grpc", "not a port number"),
    ("MONKEYTOWN_REDIS_URL", "127.0.0.1:6379", "not a Redis URL"),
])
def test_a_value_that_cannot_work_is_one_line_naming_the_setting(name, value, says):
    with pytest.raises(SettingsError) as refused:
        load_settings({name: value})
    assert name in str(refused.value) and says in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("yes", True), ("0", False), ("", False)])
def test_console_logs_is_a_yes_no_setting(value, expected):
    assert load_settings({"MONKEYTOWN_CONSOLE_LOGS": value}).console_logs is expected


def test_the_anonymization_key_is_the_setting_or_one_generated_and_kept(tmp_path):
    assert anonymization_key(tmp_path, "a-configured-key-of-length") == b"a-configured-key-of-length"
    generated = anonymization_key(tmp_path, None)
    assert len(generated) >= 32 and anonymization_key(tmp_path, None) == generated
    assert (tmp_path / "anonymization_key").stat().st_mode & 0o777 == 0o600


def test_the_streams_settings_are_read_and_checked():
    settings = load_settings({"MONKEYTOWN_ALLOWED_ORIGINS": "https://game.example/, https://beta.game.example",
                              "MONKEYTOWN_STREAM_RATE_LIMIT": "50/second", "MONKEYTOWN_STREAM_PING_SECONDS": "5"})
    assert settings.allowed_origins == ("https://game.example", "https://beta.game.example")
    assert (settings.stream_rate_limit, settings.stream_ping_seconds) == ("50/second", 5)
    defaults = load_settings({})
    assert (defaults.allowed_origins, defaults.stream_rate_limit, defaults.stream_ping_seconds) == \
        ((), "200/second", 25)
    with pytest.raises(SettingsError, match=r"^MONKEYTOWN_STREAM_PING_SECONDS=0 is too short; set it to 1 second"):
        load_settings({"MONKEYTOWN_STREAM_PING_SECONDS": "0"})


def test_redis_is_unset_by_default_and_its_password_never_shown():
    assert load_settings({}).redis_url is None
    url = "rediss://app:s3cret-pw@cache.internal:6380/2"
    assert load_settings({"MONKEYTOWN_REDIS_URL": url}).redis_url == url
    assert describe_redis(url) == "rediss://app:***@cache.internal:6380/2"
    assert describe_redis("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    with pytest.raises(SettingsError) as refused:
        load_settings({"MONKEYTOWN_REDIS_URL": "http://:s3cret-pw@cache"})
    assert "s3cret-pw" not in str(refused.value)
