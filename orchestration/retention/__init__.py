"""Retention's storage half: the archive store (a local folder or S3), a day of raw.events as Parquet with a
manifest, its verification against the store and against PostgreSQL, and reading an archived day back.

Nothing here drops, deletes or overwrites: a job may drop a day only after `archive_day` returned a verified
archive whose `rows_checksum` equals `postgres_day_checksum` over the rows still in PostgreSQL."""
