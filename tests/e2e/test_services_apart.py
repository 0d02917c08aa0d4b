"""The platform as separate services on one PostgreSQL server, one Redis and one S3 bucket, each a real process as
on hosts of its own: two `monkeytown serve api` on different ports, `serve code-server`, `serve dagster-webserver`
and `serve dagster-daemon`, each with its own MONKEYTOWN_HOME, sharing only the settings a deployment shares
(database, Redis, archive bucket, keys). Traffic spread over both APIs lands, the rate limit holds across them
exactly, one event_id sent to both lands once, the daemon's sensor brings the games into the marts, and the archive
job a user launches through the webserver archives an expired day to S3 and drops it from PostgreSQL."""

from __future__ import annotations

import contextlib
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg
import pytest
import requests

from monkeytown.supervisor import venv_tool
from orchestration.retention.parquet_day import verify_day
from orchestration.retention.store import open_archive_store
from orchestration.workspace import CODE_LOCATION
from tests.cli import monkeytown_env
from tests.e2e.test_platform import wait_for_rows
from tests.e2e.test_serve import LOAD_SECONDS, answers, serving
from tests.ingest_api.factories import game_end, game_start, move
from tests.orchestration.s3_server import S3_ENV, admin_client, moto_server, new_bucket
from tests.orchestration.test_retention_jobs import OLD_DAY, held, land_day
from tests.redis_server import NO_REDIS, REDIS_SERVER, own_redis
from tests.servers import Api, free_port, wait_until

# the daemon launches each run as a new process that loads the code location and runs dbt: minutes on 2 busy cores
# once, on the embedded server: its subject is the services' topology; dbt, partitions and the archive run on both
# servers in tests/dbt and tests/orchestration, and five services at once in both of CI's side-by-side passes would
# cost each about five minutes of the machine's two cores
pytestmark = [pytest.mark.timeout(900), pytest.mark.server_independent]

GAMES_KEY = "apart-games-key-0123456789"
LIMITED_KEY = "apart-limited-key-0123456789"
LIMIT = 20  # per key and year: no run straddles a year
GAMES = [f"apart-{n}" for n in range(3)]
RUN_SECONDS = 420


@dataclass(frozen=True)
class Platform:
    url: str
    ui: str
    archive_url: str
    s3_endpoint: str
    games: list[dict]  # the events of GAMES, posted to the APIs in turn
    statuses: list[int]  # their answers
    burst: list[dict]  # LIMIT + 10 moves with LIMITED_KEY, 8 at a time, to the APIs in turn
    burst_statuses: list[int]
    twice: dict  # one event, sent 6 times, 6 at once, to the APIs in turn
    twice_answers: list[str]  # the answers' status


def api_post(api: Api, body, key: str) -> requests.Response:
    return requests.post(api.url + "/api/events", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30)


@pytest.fixture(scope="module")
def platform(make_database, tmp_path_factory):
    if REDIS_SERVER is None:
        pytest.skip(NO_REDIS)
    root = tmp_path_factory.mktemp("apart")
    url = make_database(migrated=False)  # the first `serve api` migrates it
    with own_redis(root / "redis") as redis, moto_server(root) as s3_endpoint:
        archive_url = f"s3://{new_bucket(s3_endpoint)}/archive"
        code_port, ui_port, api_ports = free_port(), free_port(), (free_port(), free_port())
        shared = {**S3_ENV, "MONKEYTOWN_REDIS_URL": redis.url, "MONKEYTOWN_ARCHIVE_URL": archive_url,
                  "MONKEYTOWN_S3_ENDPOINT_URL": s3_endpoint, "MONKEYTOWN_WRITE_KEYS": f"{GAMES_KEY},{LIMITED_KEY}",
                  "MONKEYTOWN_RATE_LIMIT": f"{LIMIT}/year", "MONKEYTOWN_ANONYMIZATION_KEY": "apart-anonymization-key",
                  "MONKEYTOWN_BI_PASSWORD": "apart-bi-password", "MONKEYTOWN_CODE_SERVER_HOST": "127.0.0.1",
                  "MONKEYTOWN_CODE_SERVER_PORT": str(code_port), "MONKEYTOWN_DAGSTER_PORT": str(ui_port),
                  "MONKEYTOWN_API_HOST": "127.0.0.1"}

        def env(home: str, **more: str) -> dict:
            return {**monkeytown_env(root / home, url), **shared, **more}

        with contextlib.ExitStack() as stack:
            # every service at once, as a deployment starts them; the Dagster roles load the code location meanwhile
            apis = [stack.enter_context(serving("api", env(f"api-{n}", MONKEYTOWN_API_PORT=str(port)),
                                                root / f"api-{n}.out")) for n, port in enumerate(api_ports)]
            code_server = stack.enter_context(serving("code-server", env("code-server"), root / "code-server.out"))
            webserver = stack.enter_context(serving("dagster-webserver", env("webserver"), root / "webserver.out"))
            daemon = stack.enter_context(serving("dagster-daemon", env("daemon"), root / "daemon.out"))
            for served, port in zip(apis, api_ports, strict=True):
                wait_until(lambda served=served, port=port: served.running() and answers(
                    f"http://127.0.0.1:{port}/readyz"), 120, f"serve api on port {port} is ready", interval=0.2)
            # an expired day of every family, as months of traffic would have left it (the door at noon that day)
            land_day(url, OLD_DAY)
            # a few complete games, their events spread over both APIs, while the Dagster roles still load (so the
            # sensor's first run takes them in)
            games = [make(game_id=game) for game in GAMES for make in (game_start, move, game_end)]
            one, two = (Api(f"http://127.0.0.1:{port}", served.process)
                        for served, port in zip(apis, api_ports, strict=True))
            statuses = [api_post((one, two)[n % 2], event, GAMES_KEY).status_code for n, event in enumerate(games)]
            # a key's burst over its limit, and one event_id sent again and again, both at once to both APIs
            burst = [move(game_id=GAMES[0]) for _ in range(LIMIT + 10)]
            twice = move(game_id=GAMES[1])
            with ThreadPoolExecutor(max_workers=8) as pool:
                burst_statuses = list(pool.map(lambda n: api_post((one, two)[n % 2], burst[n], LIMITED_KEY)
                                               .status_code, range(len(burst))))
                twice_answers = list(pool.map(lambda n: api_post((one, two)[n % 2], twice, GAMES_KEY)
                                              .json()["status"], range(6)))
            health = [venv_tool("dagster"), "api", "grpc-health-check", "-p", str(code_port), "-h", "127.0.0.1"]
            wait_until(lambda: code_server.running() and subprocess.run(health, capture_output=True, timeout=30)
                       .returncode == 0, LOAD_SECONDS, "the code server answers a gRPC health check", interval=1)
            ui = f"http://127.0.0.1:{ui_port}"
            wait_until(lambda: webserver.running() and answers(ui + "/server_info"), LOAD_SECONDS,
                       "the webserver answers /server_info", interval=0.5)
            assert daemon.running()
            yield Platform(url, ui, archive_url, s3_endpoint, games, statuses, burst, burst_statuses, twice,
                           twice_answers)


def test_games_posted_over_both_apis_reach_the_marts_through_the_daemons_sensor(platform):
    assert platform.statuses == [200] * len(platform.games)
    assert stored(platform.url, platform.games) == len(platform.games)
    # nobody asks: the daemon's sensor sees the arrivals and launches the core models run, which the code server runs
    assert wait_for_rows(platform.url, "SELECT count(*) FROM marts.games WHERE game_id LIKE 'apart-%'",
                         at_least=len(GAMES), timeout=RUN_SECONDS) == len(GAMES)
    runs = graphql(platform, RUNS)["runsOrError"]["results"]
    assert "raw_events_arrivals" in {tag["value"] for run in runs for tag in run["tags"]
                                     if tag["key"] == "dagster/sensor_name"}


def stored(url: str, events: list[dict]) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM raw.events WHERE event_id = ANY(%s)",
                            ([event["event_id"] for event in events],)).fetchone()[0]


def test_the_rate_limit_holds_exactly_across_both_apis(platform):
    # each API alone would have let all of them through (about 15 each, under the limit of 20)
    assert (platform.burst_statuses.count(200), platform.burst_statuses.count(429)) == (LIMIT, 10)
    assert stored(platform.url, platform.burst) == LIMIT


def test_one_event_id_sent_to_both_apis_at_once_lands_once(platform):
    assert sorted(platform.twice_answers) == ["accepted"] + ["duplicate"] * 5
    assert stored(platform.url, [platform.twice]) == 1


def graphql(platform: Platform, query: str, variables: dict | None = None) -> dict:
    answer = requests.post(platform.ui + "/graphql", json={"query": query, "variables": variables or {}},
                           timeout=60).json()
    assert "errors" not in answer, answer
    return answer["data"]


LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""

STATUS = """
query Status($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status } } }"""

RUNS = """
{ runsOrError(filter: {pipelineName: "refresh_core_models"}) {
    ... on Runs { results { status tags { key value } } } } }"""

FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def test_the_archive_job_launched_from_the_webserver_archives_an_expired_day_to_s3(platform):
    # after the core models run (the first test's), as a user would: not while dbt reads raw.events
    wait_for_rows(platform.url, "SELECT count(*) FROM marts.games WHERE game_id LIKE 'apart-%'", at_least=len(GAMES),
                  timeout=RUN_SECONDS)
    assert {("client", OLD_DAY), ("server", OLD_DAY)} <= held(platform.url)
    params = {"selector": {"repositoryLocationName": CODE_LOCATION, "repositoryName": "__repository__",
                           "jobName": "archive_expired_days"},
              "executionMetadata": {"tags": [{"key": "dagster/partition", "value": OLD_DAY.isoformat()}]}}
    launched = graphql(platform, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    # the run queue is the daemon's: it dequeues the run and the code server runs it
    status = wait_until(lambda: (s := graphql(platform, STATUS, {"runId": run_id})["runOrError"]["status"])
                        in FINISHED and s, RUN_SECONDS, "the archive run finishes", interval=2)
    assert status == "SUCCESS"
    store = open_archive_store(platform.archive_url, s3_client=admin_client(platform.s3_endpoint))
    for family in ("client", "server"):
        assert verify_day(store, family, OLD_DAY).ok, family
    objects = admin_client(platform.s3_endpoint).list_objects_v2(Bucket=platform.archive_url.split("/")[2])
    assert any(obj["Key"].endswith(".parquet") for obj in objects.get("Contents", []))
    assert {("client", OLD_DAY), ("server", OLD_DAY)}.isdisjoint(held(platform.url))
