"""raw.github_deliveries: the GitHub webhook deliveries already handled, by X-GitHub-Delivery (migration 0009)."""

from __future__ import annotations

import psycopg

from ingest_api.github_webhook import Delivery

_SEEN_SQL = "SELECT 1 FROM raw.github_deliveries WHERE delivery_id = %s"
_RECORD_SQL = """
INSERT INTO raw.github_deliveries (delivery_id, event, action, hook_id, event_id)
VALUES (%(delivery_id)s, %(event)s, %(action)s, %(hook_id)s, %(event_id)s)
ON CONFLICT (delivery_id) DO NOTHING
"""


def delivery_seen(conn: psycopg.Connection, delivery_id: str) -> bool:
    return conn.execute(_SEEN_SQL, (delivery_id,)).fetchone() is not None


def record_delivery(conn: psycopg.Connection, delivery: Delivery, action: str | None, event_id: str | None) -> bool:
    """Records a handled delivery; False when it was already recorded (a redelivery that raced this one)."""
    inserted = conn.execute(_RECORD_SQL, {"delivery_id": delivery.delivery_id, "event": delivery.event,
                                          "action": action, "hook_id": delivery.hook_id, "event_id": event_id})
    return inserted.rowcount == 1
