"""deploy/compose.yaml, read (no container runtime here): the same services as `monkeytown up` on one host, each
`monkeytown serve <role>` of the one image, beside PostgreSQL, Redis and an S3-compatible store; secrets only from
the environment file."""

from __future__ import annotations

import re

from monkeytown.cli.serve import ROLES
from tests.deploy.files import DEPLOY, documents

COMPOSE = DEPLOY / "compose.yaml"


def services() -> dict[str, dict]:
    [compose] = documents(COMPOSE)
    return compose["services"]


def test_every_role_runs_as_a_service_of_the_one_image_beside_postgres_redis_and_s3():
    found = services()
    roles = {tuple(service["command"][2:]): name for name, service in found.items()
             if service.get("command", [])[:2] == ["monkeytown", "serve"]}
    assert set(roles) == {(role,) for role in ROLES}
    assert {found[name]["image"] for name in roles.values()} == {"monkeytown:local"}
    assert found["api"]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert {"postgres", "redis", "minio"} <= set(found)


def test_the_webserver_and_daemon_reach_the_code_server_where_it_listens():
    found = services()
    listening = found["code-server"]["environment"]
    assert listening["MONKEYTOWN_CODE_SERVER_HOST"] == "0.0.0.0"
    for name in ("dagster-webserver", "dagster-daemon"):
        environment = found[name]["environment"]
        assert environment["MONKEYTOWN_CODE_SERVER_HOST"] == "code-server"
        assert environment["MONKEYTOWN_CODE_SERVER_PORT"] == listening["MONKEYTOWN_CODE_SERVER_PORT"]


def test_every_role_shares_the_database_and_the_archive():
    found = services()
    urls = {found[name]["environment"]["MONKEYTOWN_DATABASE_URL"] for name in ("api", "code-server",
                                                                                "dagster-webserver", "dagster-daemon")}
    assert len(urls) == 1 and "@postgres:5432/" in urls.pop()
    assert found["api"]["environment"]["MONKEYTOWN_ARCHIVE_URL"].startswith("s3://")
    assert found["code-server"]["environment"]["MONKEYTOWN_S3_ENDPOINT_URL"] == "http://minio:9000"


def test_the_api_counts_its_rate_limit_in_the_compose_redis_once_it_is_healthy():
    api = services()["api"]
    assert api["environment"]["MONKEYTOWN_REDIS_URL"] == "redis://redis:6379/0"
    assert api["depends_on"]["redis"] == {"condition": "service_healthy"}


def test_secrets_come_from_the_environment_file_only():
    text = COMPOSE.read_text()
    for name in ("POSTGRES_PASSWORD", "MONKEYTOWN_WRITE_KEYS", "MONKEYTOWN_ANONYMIZATION_KEY", "MINIO_ROOT_PASSWORD"):
        assert re.search(rf"\$\{{{name}:\?", text), name  # required, never defaulted
    example = (DEPLOY / "compose.env.example").read_text()
    assert re.search(r"^POSTGRES_PASSWORD=$", example, re.M)  # the example holds no value to reuse
