"""POST /api/webhooks/github against a real PostgreSQL, with real signatures over deliveries of GitHub's documented
shape (tests/ingest_api/github/): a completed workflow run becomes an agent run through the agent-run path, every
other delivery is recorded by its id only, and nothing unsigned or altered is stored (QUALITY.md rows 17-18)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
import pytest

from ingest_api.app import create_app
from ingest_api.contracts import contracts
from ingest_api.github_webhook import (
    STATUS_BY_CONCLUSION,
    agent_run_from_workflow_run,
    signature,
    signature_matches,
    status_of,
)
from tests.conftest import WRITE_KEY
from tests.dbt.test_staging import monkeytown_dbt
from tests.ingest_api.http import count
from tests.ingest_api.test_events import assert_json_error

HOOK = "/api/webhooks/github"
PAYLOADS = Path(__file__).parent / "github"
#: GitHub's documented test vector (docs: "Validating webhook deliveries"), used as this module's secret too.
VECTOR_SECRET = "It's a Secret to Everybody"
VECTOR_PAYLOAD = b"Hello, World!"
VECTOR_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
SECRET = VECTOR_SECRET
DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def documented(name: str) -> dict:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def moment(minutes_ago: float) -> datetime:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).replace(microsecond=0)


def github_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def completed_run(conclusion: str = "success", run_id: int = 289782451, attempt: int = 2,
                  started: datetime | None = None, finished: datetime | None = None) -> dict:
    """The documented workflow_run completed delivery, happening now (the door takes runs up to 24 h old)."""
    payload = documented("workflow_run_completed")
    run = payload["workflow_run"]
    run.update(id=run_id, run_attempt=attempt, conclusion=conclusion,
               run_started_at=github_time(started or moment(7)), updated_at=github_time(finished or moment(1)),
               html_url=f"https://github.com/octo-org/octo-repo/actions/runs/{run_id}")
    return payload


def workflow_run_in(action: str) -> dict:
    """The same workflow run, as the delivery of an earlier step (requested, in_progress)."""
    payload = completed_run()
    payload["action"] = action
    payload["workflow_run"].update(status=action if action != "requested" else "queued", conclusion=None)
    return payload


def deliver(client, payload: dict | bytes, event: str = "workflow_run", delivery_id: str = DELIVERY,
            secret: str = SECRET, **headers):
    """POSTs a delivery as GitHub's Hookshot does, signed with `secret` unless a signature header is given."""
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    sent = {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/044aadd",
            "X-GitHub-Event": event, "X-GitHub-Delivery": delivery_id, "X-GitHub-Hook-ID": "109948940",
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-GitHub-Hook-Installation-Target-ID": "300029405",
            "X-Hub-Signature-256": signature(secret, body), **headers}
    return client.post(HOOK, data=body, headers={k: v for k, v in sent.items() if v is not None})


def deliveries(db) -> list[tuple]:
    return db.execute("SELECT delivery_id, event, action, hook_id, event_id FROM raw.github_deliveries"
                      " ORDER BY received_at, delivery_id").fetchall()


def assert_nothing_stored(db) -> None:
    assert (count(db, "raw.events"), count(db, "raw.ingest_errors"), count(db, "raw.github_deliveries")) == (0, 0, 0)


def app_with_secret(database_url: str, secret: str | None):
    with pytest.MonkeyPatch.context() as env:
        if secret is None:
            env.delenv("MONKEYTOWN_GITHUB_WEBHOOK_SECRET", raising=False)
        else:
            env.setenv("MONKEYTOWN_GITHUB_WEBHOOK_SECRET", secret)
        return create_app({"TESTING": True, "DATABASE_URL": database_url, "WRITE_KEYS": {"tests": WRITE_KEY}})


@pytest.fixture(scope="module")
def webhook_app(database_url):
    app = app_with_secret(database_url, SECRET)
    yield app
    app.extensions["monkeytown.ingest"].pool.close()


@pytest.fixture
def hook(webhook_app, clean_raw):
    clean_raw.execute("TRUNCATE raw.github_deliveries")
    return webhook_app.test_client()


# --- the signature ---------------------------------------------------------------------------------


def test_githubs_documented_test_vector():
    assert signature(VECTOR_SECRET, VECTOR_PAYLOAD) == VECTOR_SIGNATURE
    assert signature_matches(VECTOR_SECRET, VECTOR_PAYLOAD, VECTOR_SIGNATURE)
    assert not signature_matches(VECTOR_SECRET, b"Hello, World?", VECTOR_SIGNATURE)
    assert not signature_matches("It's a secret to everybody", VECTOR_PAYLOAD, VECTOR_SIGNATURE)
    assert not signature_matches(VECTOR_SECRET, VECTOR_PAYLOAD, VECTOR_SIGNATURE.upper())
    assert not signature_matches(VECTOR_SECRET, VECTOR_PAYLOAD, None)
    assert not signature_matches(VECTOR_SECRET, VECTOR_PAYLOAD, "sha256=ü")  # not ASCII: compared, not a 500


def test_the_endpoint_accepts_the_test_vectors_signature_and_only_then_reads_the_body(hook, db):
    """"Hello, World!" is no JSON: past the signature check it is a 400; with a wrong signature a 401."""
    signed = deliver(hook, VECTOR_PAYLOAD, "ping", **{"X-Hub-Signature-256": VECTOR_SIGNATURE})
    assert_json_error(signed, 400, "malformed_json")
    unsigned = deliver(hook, VECTOR_PAYLOAD, "ping", **{"X-Hub-Signature-256": VECTOR_SIGNATURE[:-1] + "f"})
    assert_json_error(unsigned, 401, "invalid_signature")
    assert_nothing_stored(db)


def test_a_body_changed_by_one_byte_is_401_and_nothing_stored(hook, db):
    body = orjson.dumps(completed_run("failure"))
    tampered = body.replace(b'"conclusion":"failure"', b'"conclusion":"success"')
    assert len(tampered) == len(body) and tampered != body
    response = deliver(hook, tampered, **{"X-Hub-Signature-256": signature(SECRET, body)})
    assert_json_error(response, 401, "invalid_signature")
    assert_nothing_stored(db)


@pytest.mark.parametrize("header", [None, "", "sha256=", "sha1=4bd5d9a2bd4a1a3d1ff8e0d0cb7e7d2f0e2a1c3b"],
                         ids=["missing", "empty", "no-digest", "sha1"])
def test_a_missing_or_malformed_signature_is_401_and_nothing_stored(hook, db, header):
    response = deliver(hook, completed_run(), **{"X-Hub-Signature-256": header})
    assert_json_error(response, 401, "invalid_signature")
    assert_nothing_stored(db)


def test_a_delivery_signed_with_another_secret_is_401_and_nothing_stored(hook, db):
    response = deliver(hook, completed_run(), secret="not the webhook's secret")
    assert_json_error(response, 401, "invalid_signature")
    assert_nothing_stored(db)


def test_without_a_secret_the_webhook_is_503_not_configured_and_nothing_stored(database_url, clean_raw):
    app = app_with_secret(database_url, None)
    try:
        response = deliver(app.test_client(), completed_run())
    finally:
        app.extensions["monkeytown.ingest"].pool.close()
    assert_json_error(response, 503, "not_configured")
    assert "MONKEYTOWN_GITHUB_WEBHOOK_SECRET" in response.get_json()["message"]
    assert_nothing_stored(clean_raw)


# --- a completed workflow run is an agent run ------------------------------------------------------


def test_a_completed_workflow_run_lands_as_an_agent_run_with_the_mapped_fields(hook, db):
    started, finished = moment(9), moment(2)
    response = deliver(hook, completed_run("success", started=started, finished=finished))
    assert response.status_code == 200
    run_id, event_id = "github-289782451-2", "agent_run:github-289782451-2"
    assert response.get_json() == {
        "status": "accepted", "delivery_id": DELIVERY, "event": "workflow_run", "action": "completed",
        "agent_run": {"status": "accepted", "run_id": run_id, "event_id": event_id}}
    [(type_, source, version, occurred_at, payload)] = db.execute(
        "SELECT type, source, contract_version, occurred_at, payload FROM raw.events").fetchall()
    assert (type_, source, version, occurred_at) == ("agent_run", "ci", contracts()["agent_run"].version, finished)
    assert payload == {
        "run_id": run_id, "agent_name": "FounderAI", "files_created": 0, "files_modified": 0, "status": "succeeded",
        "started_at": github_time(started), "finished_at": github_time(finished), "repository": "octo-org/octo-repo",
        "run_url": "https://github.com/octo-org/octo-repo/actions/runs/289782451", "run_attempt": 2,
        "data": {"github": {"conclusion": "success", "event": "push", "head_branch": "main",
                            "head_sha": "3484a3fb816e0859fd6e1cea078d76385ff50625", "workflow_id": 2823525,
                            "path": ".github/workflows/founder-ai.yml", "run_number": 163,
                            "display_title": "build(agents): let FounderAI open the pull request"}}}
    assert deliveries(db) == [(DELIVERY, "workflow_run", "completed", "109948940", event_id)]
    assert count(db, "raw.ingest_errors") == 0


def test_every_documented_conclusion_maps_onto_a_status_of_the_contract():
    statuses = set(contracts()["agent_run"].schema["properties"]["status"]["enum"])
    documented_conclusions = {"success", "failure", "cancelled", "timed_out", "skipped", "neutral",
                              "action_required", "stale", "startup_failure"}
    assert set(STATUS_BY_CONCLUSION) == documented_conclusions
    assert {status_of(c) for c in documented_conclusions} <= statuses
    assert [status_of(c) for c in ("success", "neutral", "failure", "timed_out", "startup_failure", "cancelled",
                                   "skipped", "stale", "action_required")] == [
        "succeeded", "succeeded", "failed", "failed", "failed", "cancelled", "cancelled", "cancelled", "cancelled"]
    assert status_of("a_conclusion_github_adds_later") == "failed" and status_of(None) == "failed"


def test_each_attempt_is_a_run_of_its_own_and_an_unnamed_workflow_is_named_by_its_file():
    payload = completed_run(attempt=3)
    payload["workflow_run"]["name"] = ""
    payload["workflow"]["name"] = ""
    run = agent_run_from_workflow_run(payload)
    assert (run["run_id"], run["run_attempt"], run["agent_name"]) == (
        "github-289782451-3", 3, ".github/workflows/founder-ai.yml")
    assert agent_run_from_workflow_run(completed_run(attempt=1))["run_id"] == "github-289782451-1"


def test_a_timed_out_run_is_a_failed_agent_run(hook, db):
    assert deliver(hook, completed_run("timed_out")).status_code == 200
    [(status, conclusion)] = db.execute(
        "SELECT payload ->> 'status', payload -> 'data' -> 'github' ->> 'conclusion' FROM raw.events").fetchall()
    assert (status, conclusion) == ("failed", "timed_out")


def test_a_run_the_door_refuses_is_422_recorded_as_an_error_and_not_as_a_handled_delivery(hook, db):
    """Finished two days ago (a redelivery from GitHub's history): stale, like the same run posted by CI."""
    response = deliver(hook, completed_run(started=moment(2 * 24 * 60 + 5), finished=moment(2 * 24 * 60)))
    body = assert_json_error(response, 422, "stale")
    assert (body["status"], body["run_id"], body["field"]) == ("rejected", "github-289782451-2", "finished_at")
    assert db.execute("SELECT reason, event_id, key_name FROM raw.ingest_errors").fetchall() == [
        ("stale", "agent_run:github-289782451-2", "github-webhook")]
    assert (count(db, "raw.events"), count(db, "raw.github_deliveries")) == (0, 0)


# --- deliveries are deduplicated; other events store nothing but their id ------------------------------------


def test_a_redelivery_has_no_second_effect(hook, db):
    payload = completed_run()
    assert deliver(hook, payload).get_json()["status"] == "accepted"
    again = deliver(hook, payload)
    assert again.status_code == 200
    assert again.get_json()["status"] == "duplicate" and again.get_json()["delivery_id"] == DELIVERY
    assert (count(db, "raw.events"), count(db, "raw.ingest_errors"), count(db, "raw.github_deliveries")) == (1, 0, 1)


def test_a_run_landed_whose_delivery_went_unrecorded_lands_once_when_redelivered(hook, db):
    """The record is written after the run's commit; if that write is lost, GitHub's redelivery finds the run
    already stored (its event_id comes from the workflow run and attempt) and records the delivery."""
    payload = completed_run()
    deliver(hook, payload)
    db.execute("DELETE FROM raw.github_deliveries")  # as if the write after the landing had failed
    again = deliver(hook, payload)
    assert again.status_code == 200
    assert again.get_json()["agent_run"] == {"status": "duplicate", "run_id": "github-289782451-2",
                                             "event_id": "agent_run:github-289782451-2"}
    assert (count(db, "raw.events"), count(db, "raw.ingest_errors")) == (1, 0)
    assert deliveries(db) == [(DELIVERY, "workflow_run", "completed", "109948940", "agent_run:github-289782451-2")]


def test_a_ping_is_2xx_and_stores_nothing_but_its_delivery(hook, db):
    response = deliver(hook, documented("ping"), "ping")
    assert response.status_code == 200
    assert response.get_json() == {"status": "accepted", "delivery_id": DELIVERY, "event": "ping", "action": None,
                                   "agent_run": None}
    assert (count(db, "raw.events"), count(db, "raw.ingest_errors")) == (0, 0)
    assert deliveries(db) == [(DELIVERY, "ping", None, "109948940", None)]
    assert deliver(hook, documented("ping"), "ping").get_json()["status"] == "duplicate"


@pytest.mark.parametrize("event, action", [("workflow_run", "requested"), ("workflow_run", "in_progress"),
                                           ("push", None)])
def test_earlier_steps_of_a_run_and_other_events_store_nothing_but_their_delivery(hook, db, event, action):
    ping = documented("ping")
    push = {"ref": "refs/heads/main", "before": "0" * 40, "after": "3484a3fb816e0859fd6e1cea078d76385ff50625",
            "repository": ping["repository"], "sender": ping["sender"]}
    payload = workflow_run_in(action) if action else push
    response = deliver(hook, payload, event)
    assert response.status_code == 200 and response.get_json()["agent_run"] is None
    assert (count(db, "raw.events"), count(db, "raw.ingest_errors")) == (0, 0)
    assert deliveries(db) == [(DELIVERY, event, action, "109948940", None)]


@pytest.mark.parametrize("missing", ["X-GitHub-Delivery", "X-GitHub-Event"])
def test_a_signed_delivery_without_its_id_or_event_is_400_and_nothing_stored(hook, db, missing):
    response = deliver(hook, completed_run(), **{missing: None})
    assert_json_error(response, 400, "malformed_delivery")
    assert missing in response.get_json()["message"]
    assert_nothing_stored(db)


def test_a_signed_completed_run_without_its_id_is_400_and_nothing_stored(hook, db):
    payload = completed_run()
    del payload["workflow_run"]["id"]
    assert_json_error(deliver(hook, payload), 400, "malformed_delivery")
    assert_nothing_stored(db)


def test_the_bi_role_cannot_read_the_deliveries(db):
    assert db.execute("SELECT has_table_privilege('monkeytown_bi', 'raw.github_deliveries', 'SELECT')"
                      ).fetchone() == (False,)


def test_openapi_describes_the_webhook(hook):
    operation = hook.get("/openapi.json").get_json()["paths"][HOOK]["post"]
    assert {"200", "400", "401", "413", "415", "422", "503"} <= set(operation["responses"])
    assert {p["name"] for p in operation["parameters"]} >= {"X-Hub-Signature-256", "X-GitHub-Event",
                                                           "X-GitHub-Delivery"}


# --- into the marts -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built_from_deliveries(make_database):
    """Three deliveries (a success, a failure, a ping) and a redelivery on a database of their own, then the
    agent marts and what they are built from, by dbt."""
    url = make_database()
    app = app_with_secret(url, SECRET)
    client = app.test_client()
    try:
        finished = moment(3)
        succeeded = completed_run("success", run_id=1001, attempt=1, started=finished - timedelta(seconds=90),
                                  finished=finished)
        failed = completed_run("failure", run_id=1002, attempt=1, finished=finished)
        for delivery_id, payload, event in [("d-1", succeeded, "workflow_run"), ("d-2", failed, "workflow_run"),
                                            ("d-3", documented("ping"), "ping"), ("d-1", succeeded, "workflow_run")]:
            assert deliver(client, payload, event, delivery_id).status_code == 200
    finally:
        app.extensions["monkeytown.ingest"].pool.close()
    result = monkeytown_dbt(url, "build", "--select", "+agent_activity_daily")
    assert result.returncode == 0, result.stdout[-3000:]
    return url, finished


def test_agent_runs_from_the_webhook_reach_the_marts(built_from_deliveries):
    url, finished = built_from_deliveries
    with psycopg.connect(url) as conn:
        runs = conn.execute("SELECT run_id, agent_name, files_created, files_modified, status, finished_at,"
                            " duration_seconds, repository, run_url, run_attempt FROM marts.agent_runs"
                            " ORDER BY run_id").fetchall()
        daily = conn.execute("SELECT day, agent_name, runs, succeeded, failed, files_created, files_modified"
                             " FROM marts.agent_activity_daily").fetchall()
    url_of = "https://github.com/octo-org/octo-repo/actions/runs/{}".format
    assert [row[:6] + row[7:] for row in runs] == [
        ("github-1001-1", "FounderAI", 0, 0, "succeeded", finished, "octo-org/octo-repo", url_of(1001), 1),
        ("github-1002-1", "FounderAI", 0, 0, "failed", finished, "octo-org/octo-repo", url_of(1002), 1)]
    assert float(runs[0][6]) == 90.0
    assert daily == [(finished.date(), "FounderAI", 2, 1, 1, 0, 0)]


def test_the_fixtures_have_githubs_documented_shape():
    """Every field GitHub documents for a workflow_run delivery is there, so a test cannot lean on a thin one."""
    payload = documented("workflow_run_completed")
    assert {"action", "workflow_run", "workflow", "repository", "sender"} <= set(payload)
    assert {"id", "name", "node_id", "head_branch", "head_sha", "path", "display_title", "run_number", "event",
            "status", "conclusion", "workflow_id", "check_suite_id", "url", "html_url", "pull_requests",
            "created_at", "updated_at", "actor", "run_attempt", "referenced_workflows", "run_started_at",
            "triggering_actor", "jobs_url", "logs_url", "artifacts_url", "cancel_url", "rerun_url",
            "previous_attempt_url", "workflow_url", "head_commit", "repository", "head_repository",
            } <= set(payload["workflow_run"])
    assert {"zen", "hook_id", "hook", "repository", "sender"} <= set(documented("ping"))
