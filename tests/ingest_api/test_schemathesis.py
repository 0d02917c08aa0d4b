"""Schemathesis against the real app, in process: every operation of /openapi.json through its examples, coverage
and fuzzing phases, with all its checks, sent with the write key, without one, and over the rate limit.
Deterministic (a fixed seed, derandomized, no example database) and bounded (MAX_EXAMPLES per operation).

Every check runs, with these adjustments:
- positive_data_acceptance is replaced by `positive_data_acceptance_but_the_door_window` below: a contract-valid
  event may be refused as stale or future (a window relative to now) or too large (a size of its serialization),
  which JSON Schema cannot state; any other refusal of one fails. GET /api/events/stream answers a plain GET 426
  (tests/ingest_api/test_stream.py drives it with a real WebSocket client). Until the contracts say that no string
  may hold U+0000 (the door refuses it: PostgreSQL text cannot store it), an event holding one may be refused too.
- negative_data_rejection also expects 413: a batch over 1000 events is refused as Content Too Large (QUALITY.md
  row 4 allows 413 or 400).
- max_response_time is on, at the 5 s within which QUALITY.md row 20 wants every answer.
- use_after_free, ensure_resource_availability and object_level_authorization are on but find nothing to look at:
  no operation creates a resource that another reads or deletes, and there is one identity (a write key), so the
  stateful phase that feeds them has no links to follow and is not run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from schemathesis.checks import CheckContext, positive_data_acceptance

from ingest_api.app import create_app
from ingest_api.contracts import STREAM_ENDPOINT, RefusalReason
from ingest_api.openapi import openapi_document
from tests.conftest import WRITE_KEY

SEED = 20240601
MAX_EXAMPLES = 50
REFUSALS_NO_SCHEMA_CAN_STATE = {RefusalReason.STALE, RefusalReason.FUTURE, RefusalReason.TOO_LARGE}
CONFIG = {
    "seed": SEED,
    "suppress-health-check": ["too_slow"],  # how fast hypothesis generates on a shared, noisy machine is not tested
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    "checks": {
        "negative_data_rejection": {"expected-statuses": ["400", "401", "413", "415", "422", "429", "503"]},
        "max_response_time": 5.0,
    },
}


class AppUnderTest:
    """The WSGI app schemathesis calls: it forwards to an app a fixture creates on the session's database, which
    does not exist yet when pytest collects this module and binds the schema to an app. (schemathesis.pytest.
    from_fixture exists for this, but schemathesis 4.32 sets the pytest item's `_nodeid`, gone in pytest 9.2.)"""

    target = None

    def __call__(self, environ, start_response):
        return self.target(environ, start_response)


def _schema(app: AppUnderTest):
    # the document /openapi.json serves (test_docs checks they are the same), read before any app exists
    loaded = schemathesis.openapi.from_dict(openapi_document(), config=schemathesis.Config.from_dict(CONFIG))
    loaded.app = app
    return loaded


KEYED_APP, LIMITED_APP = AppUnderTest(), AppUnderTest()
schema = _schema(KEYED_APP)
write_operations = _schema(LIMITED_APP).include(method="POST")


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    return isinstance(value, list) and any(_holds_nul(item) for item in value)


def _refusal_the_contracts_cannot_state(case, body: dict) -> bool:
    if body.get("reason") in REFUSALS_NO_SCHEMA_CAN_STATE:
        return True
    # the door refuses U+0000 anywhere (PostgreSQL text cannot hold it) and the contracts do not say so yet
    return body.get("reason") == RefusalReason.SCHEMA_MISMATCH and _holds_nul(case.body)


def positive_data_acceptance_but_the_door_window(ctx: CheckContext, response, case) -> None:
    """positive_data_acceptance, except that a contract-valid event may be refused (422) as stale, future or too
    large, and the stream answers 426 to a plain GET (OpenAPI cannot describe a WebSocket upgrade, and schemathesis
    cannot make one); any other refusal means the door and the contracts disagree."""
    if case.path == STREAM_ENDPOINT and response.status_code == 426:
        return None
    if case.meta is not None and case.meta.generation.mode.is_positive and response.status_code == 422:
        assert _refusal_the_contracts_cannot_state(case, response.json()), \
            f"a contract-valid event was refused: {response.text}"
        return None
    return positive_data_acceptance(ctx, response, case)


def _build_data_docs(home: Path) -> None:
    pages = home / "data_docs"
    (pages / "validations").mkdir(parents=True)
    (pages / "index.html").write_text("<h1>Data Docs</h1>")
    (pages / "validations" / "run.html").write_text("<p>raw_events</p>")


@pytest.fixture(scope="module")
def serve(make_database, tmp_path_factory):
    """Points an AppUnderTest at a new app on a database of its own, with Data Docs built under its home."""
    apps = []

    def serve(app_under_test: AppUnderTest, **config) -> None:
        home = tmp_path_factory.mktemp("home")
        _build_data_docs(home)
        with pytest.MonkeyPatch.context() as env:
            env.setenv("MONKEYTOWN_HOME", str(home))
            # configured, so the webhook answers what a deployment's would (401 to every unsigned delivery)
            env.setenv("MONKEYTOWN_GITHUB_WEBHOOK_SECRET", "schemathesis-webhook-secret")
            app = create_app({"TESTING": True, "DATABASE_URL": make_database(), "WRITE_KEYS": {"tests": WRITE_KEY},
                              **config})
        app_under_test.target = app
        apps.append(app)

    yield serve
    for app in apps:
        app.extensions["monkeytown.ingest"].pool.close()


@pytest.fixture(scope="module")
def keyed_app(serve):
    serve(KEYED_APP)


@pytest.fixture(scope="module")
def limited_app(serve):
    serve(LIMITED_APP, RATE_LIMIT="1/hour")


def _call_and_validate(case, headers: dict | None = None) -> None:
    case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance],
                           additional_checks=[positive_data_acceptance_but_the_door_window])


@schema.parametrize()
@pytest.mark.usefixtures("keyed_app")
def test_with_the_write_key(case):
    _call_and_validate(case, {"Authorization": f"Bearer {WRITE_KEY}"})


@schema.parametrize()
@pytest.mark.usefixtures("keyed_app")
def test_without_a_key(case):
    _call_and_validate(case)


@write_operations.parametrize()
@pytest.mark.usefixtures("limited_app")
def test_over_the_rate_limit(case):
    """Nearly every answer is a 429, which must carry the Retry-After the document promises."""
    _call_and_validate(case, {"Authorization": f"Bearer {WRITE_KEY}"})
