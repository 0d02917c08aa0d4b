"""Retention: the policy (policy.py), the archive store (a local folder or S3), a day of raw.events as Parquet with
a manifest, its verification against the store and against PostgreSQL, reading an archived day back, and
archive-then-drop (archive_then_drop.py), the only place that drops.

A family day is dropped only after `archive_day` returned a verified archive whose `rows_checksum` equals
`postgres_day_checksum` over the rows still in PostgreSQL, in the drop's own transaction."""
