"""What the API tests do over and over: post a JSON body with the write key, and count a table's rows."""

from __future__ import annotations

import orjson
from psycopg import sql

EVENTS = "/api/events"


def post(client, body, auth: dict, path: str = EVENTS, **headers):
    """POST `body` (an object, or bytes/str sent as they are) as JSON to `path` of the app's test client."""
    data = body if isinstance(body, (bytes, str)) else orjson.dumps(body)
    return client.post(path, data=data, headers={"Content-Type": "application/json", **auth, **headers})


def count(db, table: str) -> int:
    schema, name = table.split(".")
    return db.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))).fetchone()[0]
