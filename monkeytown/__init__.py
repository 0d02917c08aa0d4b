"""Monkeytown Analytics, the platform itself: at the bottom its foundations (settings, the database, logging,
the process supervisor), at the top the `monkeytown` command; beside the ingest API the simulator."""
