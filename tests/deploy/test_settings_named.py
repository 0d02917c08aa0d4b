"""Every MONKEYTOWN_* variable deploy/ sets or mentions is one the platform reads: a misspelt or invented setting
would be ignored in silence where it is deployed."""

from __future__ import annotations

import pytest

from tests.deploy.files import DEPLOY, known_settings, settings_named

FILES = sorted(path for path in DEPLOY.rglob("*") if path.is_file() and path.suffix != ".json")


def test_deploy_holds_the_image_the_helm_values_the_manifests_and_the_compose_file():
    names = {path.relative_to(DEPLOY).as_posix() for path in FILES}
    assert {"Dockerfile", "compose.yaml", "helm/dagster-values.yaml", "kubernetes/api.yaml",
            "kubernetes/settings.yaml"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.relative_to(DEPLOY).as_posix())
def test_every_setting_a_deploy_file_names_exists(path):
    assert settings_named(path) - known_settings() == set()


def test_the_settings_the_platform_needs_on_several_hosts_are_set_by_compose():
    # the same anonymization key and BI password everywhere: generated ones would differ per container
    assert {"MONKEYTOWN_DATABASE_URL", "MONKEYTOWN_ANONYMIZATION_KEY", "MONKEYTOWN_BI_PASSWORD",
            "MONKEYTOWN_WRITE_KEYS", "MONKEYTOWN_ARCHIVE_URL"} <= settings_named(DEPLOY / "compose.yaml")
