"""Where a day of one family lives in the archive: `<family>/<yyyy>/<mm>/<dd>/`, holding its data object
`events-<sha256[:16]>.parquet` (a different content can never take an existing name) and `manifest.json`."""

from __future__ import annotations

import re
from datetime import date

MANIFEST_NAME = "manifest.json"
_FAMILY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_DATA_OBJECT = re.compile(r"^events-[0-9a-f]{16}\.parquet$")


def check_family(family: str) -> str:
    if not _FAMILY.match(family):
        raise ValueError(f"family {family!r} must be lowercase letters, digits and _ (it names a folder)")
    return family


def day_prefix(family: str, day: date) -> str:
    return f"{check_family(family)}/{day:%Y/%m/%d}/"


def manifest_key(family: str, day: date) -> str:
    return day_prefix(family, day) + MANIFEST_NAME


def data_object_name(sha256_hex: str) -> str:
    return f"events-{sha256_hex[:16]}.parquet"


def data_object_key(family: str, day: date, name: str) -> str:
    """The key of a data object a manifest names (only a name of the expected shape: it stays in the day)."""
    if not _DATA_OBJECT.match(name):
        raise ValueError(f"data object name {name!r} is not events-<16 hex digits>.parquet")
    return day_prefix(family, day) + name


def day_of_manifest_key(key: str) -> tuple[str, date] | None:
    """(family, day) of a `<family>/<yyyy>/<mm>/<dd>/manifest.json` key, else None."""
    match = re.match(r"^([a-z][a-z0-9_]*)/(\d{4})/(\d{2})/(\d{2})/" + re.escape(MANIFEST_NAME) + "$", key)
    if not match:
        return None
    family, year, month, day = match.groups()
    try:
        return family, date(int(year), int(month), int(day))
    except ValueError:
        return None
