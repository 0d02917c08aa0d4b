"""The settings' fingerprint names what changed and reveals no secret, passwords inside URLs included."""

import json

from monkeytown.settings import load_settings
from monkeytown.settings_fingerprint import changed_settings, settings_fingerprint

KEY = b"a-fingerprint-key-0123456789"
BASE = {"MONKEYTOWN_HOME": "/srv/monkeytown", "MONKEYTOWN_DATABASE_URL": "postgresql://app:s3cret-pw@db:5432/monkeytown",
        "MONKEYTOWN_WRITE_KEYS": "key-one-0123456789,key-two-0123456789"}


def fingerprint(env: dict, key: bytes = KEY):
    return settings_fingerprint(load_settings(env), key)


def recorded(env: dict, key: bytes = KEY) -> dict:
    found = fingerprint(env, key)
    return {"settings": found.settings, "key_id": found.key_id}


def test_the_same_settings_give_the_same_fingerprint_whatever_the_order_of_the_keys():
    swapped = BASE | {"MONKEYTOWN_WRITE_KEYS": "key-two-0123456789,key-one-0123456789"}
    assert fingerprint(BASE).fingerprint == fingerprint(swapped).fingerprint
    assert changed_settings(recorded(BASE), fingerprint(swapped)) == []


def test_a_password_inside_the_database_url_is_a_setting_of_its_own_and_never_shown():
    other_password = BASE | {"MONKEYTOWN_DATABASE_URL": "postgresql://app:other-pw@db:5432/monkeytown"}
    other_host = BASE | {"MONKEYTOWN_DATABASE_URL": "postgresql://app:s3cret-pw@replica:5432/monkeytown"}
    in_query = BASE | {"MONKEYTOWN_DATABASE_URL": "postgresql://app@db:5432/monkeytown?password=s3cret-pw"}

    assert changed_settings(recorded(BASE), fingerprint(other_password)) == ["database_url.password"]
    assert changed_settings(recorded(BASE), fingerprint(other_host)) == ["database_url"]
    assert changed_settings(recorded(BASE), fingerprint(in_query)) == []
    shown = json.dumps(recorded(BASE))
    assert [s for s in ("s3cret-pw", "key-one-0123456789", "key-two-0123456789") if s in shown] == []


def test_a_password_inside_the_redis_url_is_a_setting_of_its_own_and_never_shown():
    with_redis = BASE | {"MONKEYTOWN_REDIS_URL": "redis://:r3dis-pw@cache:6379/0"}
    other_password = BASE | {"MONKEYTOWN_REDIS_URL": "redis://:other-pw@cache:6379/0"}
    assert changed_settings(recorded(BASE), fingerprint(with_redis)) == ["redis_url", "redis_url.password"]
    assert changed_settings(recorded(with_redis), fingerprint(other_password)) == ["redis_url.password"]
    assert "r3dis-pw" not in json.dumps(recorded(with_redis))


def test_a_libpq_keyword_string_keeps_its_password_apart_too():
    words = BASE | {"MONKEYTOWN_DATABASE_URL": "host=db dbname=monkeytown user=app password=s3cret-pw"}
    other = BASE | {"MONKEYTOWN_DATABASE_URL": "host=db dbname=monkeytown user=app password=other-pw"}
    assert changed_settings(recorded(words), fingerprint(other)) == ["database_url.password"]
    assert "s3cret-pw" not in json.dumps(recorded(words))


def test_under_another_key_secrets_compare_only_on_being_set_and_the_key_counts_as_changed():
    rotated = BASE | {"MONKEYTOWN_RATE_LIMIT": "5/second", "MONKEYTOWN_BI_PASSWORD": "now-set-0123456789"}
    assert changed_settings(recorded(BASE), fingerprint(rotated, b"another-key-0123456789")) == [
        "anonymization_key", "bi_password", "rate_limit"]


def test_the_first_fingerprint_on_record_names_no_change():
    assert changed_settings(None, fingerprint(BASE)) == []
