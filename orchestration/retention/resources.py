"""Retention as Dagster sees it: the policy's days, the archive (a local folder, or S3 through dagster-aws's
S3Resource) and MONKEYTOWN_HOME, read from the settings when the code location loads. The anonymization key is
never config (the UI shows config): it is read from the environment or MONKEYTOWN_HOME when a run needs it."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from monkeytown.secret_files import anonymization_key
from monkeytown.settings import Settings
from orchestration.retention.policy import RetentionPolicy
from orchestration.retention.store import ArchiveStore, StoreLimits, open_archive_store

KEY_SETTING = "MONKEYTOWN_ANONYMIZATION_KEY"


class RetentionResource(dg.ConfigurableResource):
    archive_url: str
    s3_endpoint_url: str | None = None
    home: str
    game_events_days: int = 90
    system_events_days: int = 30
    player_anonymize_days: int = 90
    player_delete_days: int = 365
    history_days: int = 30

    def policy(self) -> RetentionPolicy:
        return RetentionPolicy(self.game_events_days, self.system_events_days, self.player_anonymize_days,
                               self.player_delete_days, self.history_days)

    def store(self) -> ArchiveStore:
        """The archive; an S3 one through dagster-aws's S3Resource client (its retries, boto3's timeouts)."""
        if not self.archive_url.startswith("s3://"):
            return open_archive_store(self.archive_url)
        from dagster_aws.s3 import S3Resource  # boto3 (1.2 s, 30 MB) loads only where the archive is S3

        client = S3Resource(endpoint_url=self.s3_endpoint_url, max_attempts=StoreLimits().max_attempts).get_client()
        return open_archive_store(self.archive_url, s3_endpoint_url=self.s3_endpoint_url, s3_client=client)

    def anonymization_key(self) -> bytes:
        return anonymization_key(Path(self.home), os.environ.get(KEY_SETTING) or None)


def retention_resource(settings: Settings) -> RetentionResource:
    policy = RetentionPolicy.from_settings(settings)
    return RetentionResource(
        archive_url=settings.archive_url, s3_endpoint_url=settings.s3_endpoint_url, home=str(settings.home),
        game_events_days=policy.game_events_days, system_events_days=policy.system_events_days,
        player_anonymize_days=policy.player_anonymize_days, player_delete_days=policy.player_delete_days,
        history_days=policy.history_days)

