"""What can go wrong while archiving, each a clear error a job can name in its failure."""

from __future__ import annotations


class ArchiveError(Exception):
    """Base of every archive failure; the day is then not archived and must not be dropped."""


class ArchiveStoreError(ArchiveError):
    """The store could not be reached or refused an operation (after its bounded retries)."""


class ObjectMissing(ArchiveStoreError):
    """An object that was asked for does not exist."""


class ArchiveConflict(ArchiveError):
    """What the store already holds for a day differs from what this run would write; nothing was overwritten."""


class ArchiveVerificationError(ArchiveError):
    """An archived day read back from the store does not match its manifest."""


class InvalidRows(ArchiveError, ValueError):
    """The rows handed to the archive are not one ordered day of one family."""


class DropRefused(ArchiveError):
    """The day's archive is not proven equal to the rows PostgreSQL holds; nothing was dropped."""


class ChecksumMismatch(DropRefused):
    """The verified archive and the rows still in PostgreSQL differ in count or rows checksum."""


class DayLost(ArchiveError):
    """PostgreSQL no longer holds the day, and the archive holds no verified copy of it."""
