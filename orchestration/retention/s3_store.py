"""The archive in S3 (or an S3-compatible store): conditional puts (`If-None-Match: *`) so an object is never
replaced, every call bounded by botocore's connect/read timeouts and a bounded number of attempts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from orchestration.retention.errors import ArchiveStoreError, ObjectMissing
from orchestration.retention.store_interface import ObjectInfo, StoreLimits, check_key

PRECONDITION_FAILED = 412
NOT_FOUND = 404


def bounded_s3_client(endpoint_url: str | None, limits: StoreLimits) -> Any:
    """A plain boto3 client (dagster-aws's S3Resource sets retries but no connect/read timeouts), with the
    standard credential and region chain."""
    config = Config(connect_timeout=limits.connect_timeout, read_timeout=limits.read_timeout,
                    retries={"total_max_attempts": limits.max_attempts, "mode": "standard"})
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)


def _status(error: ClientError) -> int | None:
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


class S3ArchiveStore:
    def __init__(self, bucket: str, prefix: str, client: Any):
        self.bucket = bucket
        self.prefix = prefix
        self.client = client
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, action: str, key: str, error: Exception) -> ArchiveStoreError:
        return ArchiveStoreError(f"S3 {action} of {key!r} in {self.url} failed: {error}")

    def put_if_absent(self, key: str, source: Path | bytes) -> bool:
        try:
            if isinstance(source, bytes):
                self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=source, IfNoneMatch="*")
            else:
                with open(source, "rb") as body:
                    self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body, IfNoneMatch="*")
            return True
        except ClientError as error:
            # also what a retry meets when its first attempt landed but the answer was lost
            if _status(error) == PRECONDITION_FAILED:
                return False
            raise self._fail("put", key, error) from error
        except (BotoCoreError, OSError) as error:
            raise self._fail("put", key, error) from error

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return response["Body"].read()
        except ClientError as error:
            if _status(error) == NOT_FOUND:
                raise ObjectMissing(f"no object {key!r} in {self.url}") from None
            raise self._fail("get", key, error) from error
        except BotoCoreError as error:
            raise self._fail("get", key, error) from error

    def head(self, key: str) -> ObjectInfo | None:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if _status(error) == NOT_FOUND:
                return None
            raise self._fail("head", key, error) from error
        except BotoCoreError as error:
            raise self._fail("head", key, error) from error
        return ObjectInfo(key, response["ContentLength"], response["ETag"].strip('"'))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if prefix:
            check_key(prefix.rstrip("/"))
        root = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=root + prefix)
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    yield ObjectInfo(item["Key"][len(root):], item["Size"], item["ETag"].strip('"'))
        except (ClientError, BotoCoreError) as error:
            raise self._fail("list", prefix, error) from error
