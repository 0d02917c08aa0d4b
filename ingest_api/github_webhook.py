"""GitHub webhook deliveries, as pure functions: the signature check (X-Hub-Signature-256) and the mapping of a
completed `workflow_run` onto the agent_run contract. The blueprint (blueprints/github_webhook.py) and the
delivery log (github_deliveries.py) do the I/O."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

GITHUB_WEBHOOK_ENDPOINT = "/api/webhooks/github"
SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
HOOK_HEADER = "X-GitHub-Hook-ID"
#: The name raw.events and raw.ingest_errors show as the sender (key_name), in the place of a write key's name.
SENDER_NAME = "github-webhook"

#: GitHub's conclusion of a completed workflow run -> the agent_run contract's status.
STATUS_BY_CONCLUSION = {
    "success": "succeeded",
    "neutral": "succeeded",  # GitHub counts a neutral conclusion as passing (e.g. for required checks)
    "failure": "failed",
    "timed_out": "failed",
    "startup_failure": "failed",
    "cancelled": "cancelled",
    # the run did not do its work: neither a success nor a failure of it
    "skipped": "cancelled",
    "stale": "cancelled",
    "action_required": "cancelled",
}
#: A conclusion GitHub adds later, or none: the run did not succeed, and its own conclusion stays in `data`.
UNKNOWN_CONCLUSION_STATUS = "failed"
MAX_AGENT_NAME = 128
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_EVENT_NAME = re.compile(r"^[a-z_]{1,64}$")


class MalformedDelivery(ValueError):
    """A signed delivery that lacks what GitHub always sends (its headers, or a workflow run's id)."""


def signature(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 value GitHub sends for `body` signed with `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is the signature of the exact bytes received, compared in constant time."""
    offered = (header or "").strip().encode("utf-8", "replace")
    return hmac.compare_digest(signature(secret, body).encode(), offered)


@dataclass(frozen=True)
class Delivery:
    """What the headers say about one delivery."""

    delivery_id: str
    event: str
    hook_id: str | None = None


def delivery_from_headers(headers) -> Delivery:
    """The delivery's id (a GUID, the same on a redelivery), event name and hook id, or MalformedDelivery."""
    delivery_id = (headers.get(DELIVERY_HEADER) or "").strip()
    event = (headers.get(EVENT_HEADER) or "").strip()
    if not _DELIVERY_ID.fullmatch(delivery_id):
        raise MalformedDelivery(f"{DELIVERY_HEADER} must be the delivery's GUID (1-64 of [A-Za-z0-9_.-])")
    if not _EVENT_NAME.fullmatch(event):
        raise MalformedDelivery(f"{EVENT_HEADER} must name the event, e.g. workflow_run or ping")
    hook_id = (headers.get(HOOK_HEADER) or "").strip()[:64] or None
    return Delivery(delivery_id, event, hook_id)


def action_of(payload: object) -> str | None:
    action = payload.get("action") if isinstance(payload, dict) else None
    return action[:64] if isinstance(action, str) else None


def is_completed_workflow_run(event: str, payload: object) -> bool:
    """The one delivery that makes an agent run: a workflow run that finished (requested and in_progress do not)."""
    return event == "workflow_run" and action_of(payload) == "completed"


def agent_run_id(run: dict) -> str:
    """`github-<workflow run id>-<attempt>`: each attempt is a run of its own, and the same attempt delivered again
    has the same id, so the agent-run path's own event_id dedupe holds too."""
    run_id, attempt = run.get("id"), run.get("run_attempt", 1)
    if not _is_count(run_id) or not _is_count(attempt):
        raise MalformedDelivery("workflow_run.id and workflow_run.run_attempt must be positive integers")
    return f"github-{run_id}-{attempt}"


def agent_name(run: dict, workflow: object) -> str:
    """The workflow's name, else its file's path (GitHub may send an empty name)."""
    names = [run.get("name"), run.get("path")]
    if isinstance(workflow, dict):
        names += [workflow.get("name"), workflow.get("path")]
    name = next((n.strip() for n in names if isinstance(n, str) and n.strip()), "github-workflow")
    return name[:MAX_AGENT_NAME]


def status_of(conclusion: object) -> str:
    return STATUS_BY_CONCLUSION.get(conclusion, UNKNOWN_CONCLUSION_STATUS)


def agent_run_from_workflow_run(payload: dict) -> dict:
    """The agent_run body (the same contract as POST /api/agent-runs) a completed workflow_run delivery stands for.
    GitHub does not report files, so files_created and files_modified are 0: a count the webhook cannot know."""
    run = payload.get("workflow_run")
    if not isinstance(run, dict):
        raise MalformedDelivery("a workflow_run delivery must hold a workflow_run object")
    body = {
        "run_id": agent_run_id(run),
        "agent_name": agent_name(run, payload.get("workflow")),
        "files_created": 0,
        "files_modified": 0,
        "status": status_of(run.get("conclusion")),
    }
    optional = {
        "started_at": run.get("run_started_at"),
        "finished_at": run.get("updated_at"),
        "repository": _text(payload.get("repository"), "full_name") or _text(run.get("repository"), "full_name"),
        "run_url": run.get("html_url"),
        "run_attempt": run.get("run_attempt"),
    }
    body.update({name: value for name, value in optional.items() if value is not None})
    body["data"] = _github_details(run)
    return body


def _github_details(run: dict) -> dict:
    """What else a user would look a run up by; GitHub's own words, kept as they came."""
    wanted = ("conclusion", "event", "head_branch", "head_sha", "workflow_id", "path", "run_number", "display_title")
    return {"github": {name: run[name] for name in wanted if run.get(name) is not None}}


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _text(container: object, name: str) -> str | None:
    value = container.get(name) if isinstance(container, dict) else None
    return value if isinstance(value, str) and value else None
