"""Getting a database, written once: the active one (configured or embedded), the embedded server itself, an
external server's checks, and scratch databases for tests and benchmarks."""

from monkeytown.database.active import active_database, client_database_url, running_database_url
from monkeytown.database.embedded import EmbeddedDatabaseError, EmbeddedPostgres
from monkeytown.database.errors import first_line
from monkeytown.database.external import check_server, describe_server
from monkeytown.database.scratch import ScratchServer, scratch_database, scratch_server

__all__ = [
    "EmbeddedDatabaseError", "EmbeddedPostgres", "ScratchServer", "active_database", "check_server",
    "client_database_url", "describe_server", "first_line", "running_database_url", "scratch_database",
    "scratch_server",
]
