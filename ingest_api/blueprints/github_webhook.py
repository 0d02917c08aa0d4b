"""POST /api/webhooks/github: GitHub Actions deliveries, verified by their signature; a completed workflow run
lands as an agent run through the agent-run path, and every delivery is recorded once by its id."""

from __future__ import annotations

import orjson
from flask import Blueprint, current_app, g, request

from ingest_api.body import raw_body, read_json
from ingest_api.contracts import AGENT_RUNS_ENDPOINT
from ingest_api.errors import ApiError, json_response
from ingest_api.github_deliveries import delivery_seen, record_delivery
from ingest_api.github_webhook import (
    GITHUB_WEBHOOK_ENDPOINT,
    SENDER_NAME,
    SIGNATURE_HEADER,
    Delivery,
    MalformedDelivery,
    action_of,
    agent_run_from_workflow_run,
    delivery_from_headers,
    is_completed_workflow_run,
    signature_matches,
)
from ingest_api.landing import Provenance
from ingest_api.pool import request_deadline

bp = Blueprint("github_webhook", __name__)


def _verified_delivery() -> tuple[Delivery, object]:
    """The delivery and its parsed payload, once the signature proves GitHub sent exactly these bytes."""
    secret = current_app.extensions["monkeytown.settings"].github_webhook_secret
    if not secret:
        raise ApiError(503, "not_configured",
                       "the GitHub webhook is not configured: set MONKEYTOWN_GITHUB_WEBHOOK_SECRET")
    if not signature_matches(secret, raw_body(request), request.headers.get(SIGNATURE_HEADER)):
        raise ApiError(401, "invalid_signature", f"{SIGNATURE_HEADER} is missing, or is not the HMAC-SHA256 of "
                       "this body with the webhook's secret")
    g.key_name = SENDER_NAME  # what the request log names in the place of a write key
    try:
        delivery = delivery_from_headers(request.headers)
    except MalformedDelivery as error:
        raise ApiError(400, "malformed_delivery", str(error)) from None
    payload, _ = read_json(request)
    return delivery, payload


def _already_handled(delivery: Delivery) -> dict:
    return {"status": "duplicate", "delivery_id": delivery.delivery_id, "event": delivery.event,
            "message": "this delivery was already handled; a redelivery has no second effect"}


@bp.post(GITHUB_WEBHOOK_ENDPOINT)
def receive_github_delivery():
    delivery, payload = _verified_delivery()
    service = current_app.extensions["monkeytown.ingest"]
    with service.guarded_connection(request_deadline()) as conn:
        if delivery_seen(conn, delivery.delivery_id):
            return json_response(_already_handled(delivery))
    agent_run = None
    if is_completed_workflow_run(delivery.event, payload):
        try:
            run = agent_run_from_workflow_run(payload)
        except MalformedDelivery as error:
            raise ApiError(400, "malformed_delivery", str(error)) from None
        g.event_count = 1
        provenance = Provenance(request_id=g.request_id, key_name=g.key_name)
        status, agent_run = service.ingest_one(run, orjson.dumps(run), provenance, endpoint=AGENT_RUNS_ENDPOINT)
        if status != 200:  # refused at the door and recorded there; unrecorded here, so a redelivery tries again
            return json_response(agent_run, status)
    # after the agent run's commit: a failure here leaves a redelivery, which the run's event_id makes a duplicate
    with service.guarded_connection(request_deadline()) as conn:
        first = record_delivery(conn, delivery, action_of(payload), agent_run and agent_run.get("event_id"))
    if not first:
        return json_response(_already_handled(delivery))
    return json_response({"status": "accepted", "delivery_id": delivery.delivery_id, "event": delivery.event,
                          "action": action_of(payload), "agent_run": agent_run})
