"""Role passwords, set as SCRAM verifiers made here: the password itself never reaches the server or its logs."""

from __future__ import annotations

import psycopg
from psycopg import sql


def set_password(conn: psycopg.Connection, role: str, password: str, *, login: bool = False) -> None:
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
    statement = "ALTER ROLE {} WITH LOGIN PASSWORD {}" if login else "ALTER ROLE {} WITH PASSWORD {}"
    conn.execute(sql.SQL(statement).format(sql.Identifier(role), sql.Literal(verifier)))
