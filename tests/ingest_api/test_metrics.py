"""GET /metrics: Prometheus text that prometheus-client's own parser reads, counting exactly the events answered, in
one process (the test client) and summed over gunicorn workers, a killed worker's counts neither lost nor doubled."""

from __future__ import annotations

import glob
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests
from prometheus_client import multiprocess
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from tests.ingest_api.factories import agent_run, move
from tests.ingest_api.http import post
from tests.servers import AUTH, Api, api_server, own_postgres, wait_until

STATUSES = ("accepted", "duplicate", "rejected")


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, its labels) -> value, as Prometheus would read the page."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def events(page: dict) -> dict[str, float]:
    return {status: page[("monkeytown_events_total", frozenset({("status", status)}))] for status in STATUSES}


def requests_counted(page: dict, method: str, endpoint: str, status: str) -> float:
    labels = frozenset({("method", method), ("endpoint", endpoint), ("status", status)})
    return page.get(("monkeytown_request_duration_seconds_count", labels), 0)


def difference(after: dict, before: dict) -> dict:
    return {key: after[key] - before.get(key, 0) for key in after}


# --- in one process ------------------------------------------------------------------------------------------

def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return samples(response.get_data(as_text=True))


def test_the_page_parses_and_names_the_contracts_metrics_with_their_help(client):
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))}
    assert families["monkeytown_events"].type == "counter"
    assert "rate(monkeytown_events_total[1m])" in families["monkeytown_events"].documentation
    assert families["monkeytown_request_duration_seconds"].type == "histogram"
    assert families["monkeytown_db_query_duration_seconds"].type == "histogram"
    assert set(events(scrape(client))) == set(STATUSES)  # each status is there before its first event


def test_events_are_counted_exactly_by_the_status_each_was_answered(client, auth):
    before = scrape(client)
    first = move()
    assert post(client, first, auth).get_json()["status"] == "accepted"
    assert post(client, first, auth).get_json()["status"] == "duplicate"
    assert post(client, move(game_id=None), auth).status_code == 422
    batch = post(client, [move(), move(), first, move(move_type=None)], auth).get_json()
    assert (batch["accepted"], batch["duplicates"], batch["rejected"]) == (2, 1, 1)
    run = agent_run()
    assert post(client, run, auth, "/api/agent-runs").get_json()["status"] == "accepted"
    assert post(client, run, auth, "/api/agent-runs").get_json()["status"] == "duplicate"
    assert post(client, b"[not json", auth).status_code == 400  # no event was answered
    assert post(client, move(), {}).status_code == 401

    after = scrape(client)
    assert difference(events(after), events(before)) == {"accepted": 4, "duplicate": 3, "rejected": 2}
    assert requests_counted(after, "POST", "/api/events", "200") - \
        requests_counted(before, "POST", "/api/events", "200") == 3
    assert requests_counted(after, "POST", "/api/events", "422") - \
        requests_counted(before, "POST", "/api/events", "422") == 1
    landing = ("monkeytown_db_query_duration_seconds_count", frozenset({("statement", "land_events")}))
    assert after[landing] - before.get(landing, 0) == 6  # one landing per request that reached the door


def test_a_request_is_labelled_by_its_url_rule_never_by_the_path_the_client_chose(client):
    client.get("/no/such/page-4f2a")
    client.get("/data-docs/some/page-4f2a.html")
    client.open("/metrics", method="BREW")
    labels = {dict(labels).get("endpoint") for (name, labels) in scrape(client)
              if name == "monkeytown_request_duration_seconds_count"}
    assert "<unmatched>" in labels and "/data-docs/<path:path>" in labels
    assert not any("4f2a" in label for label in labels)
    methods = {dict(labels)["method"] for (name, labels) in scrape(client)
               if name == "monkeytown_request_duration_seconds_count"}
    assert "BREW" not in methods and "other" in methods


# --- across gunicorn workers ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    with own_postgres(tmp_path_factory.mktemp("pg")) as server:
        yield server


@pytest.fixture(scope="module")
def api(postgres, tmp_path_factory):
    with api_server(postgres.url(), tmp_path_factory.mktemp("home"), workers=2) as server:
        yield server


def scrape_api(api: Api) -> dict:
    response = requests.get(api.url + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return samples(response.text)


def metrics_dir(api: Api) -> str:
    """The directory the master chose (after exec, so /proc/<pid>/environ does not show it): where its workers'
    files are open."""
    return wait_until(lambda: next((os.path.dirname(f.path) for f in api.workers()[0].open_files()
                                    if os.path.basename(f.path).startswith("counter_")), None), 10, "the workers' dir")


def accepted_by_worker(directory: str) -> dict[int, float]:
    """Accepted events per worker pid, read from each process's own counter file."""
    counts = {}
    for path in glob.glob(os.path.join(directory, "counter_*.db")):
        pid = int(path.rsplit("_", 1)[1].removesuffix(".db"))
        counts[pid] = sum(s.value for m in multiprocess.MultiProcessCollector.merge([path]) for s in m.samples
                          if s.name == "monkeytown_events_total" and s.labels["status"] == "accepted")
    return counts


def counted_as_worker(directory: str, pid: int) -> bool:
    """Whether the worker `pid` has set its monkeytown_api_workers (it does as it loads the app)."""
    path = os.path.join(directory, f"gauge_livesum_{pid}.db")
    return os.path.exists(path) and any(s.value == 1 for m in multiprocess.MultiProcessCollector.merge([path])
                                        for s in m.samples if s.name == "monkeytown_api_workers")


class Traffic:
    """Posts known events over new connections, many at once, so that every worker gets some; tallies what each
    answer should be."""

    def __init__(self, api: Api):
        self.api = api
        self.sent = Counter()
        self.stored: list[dict] = []

    def _post(self, body) -> str:
        response = requests.post(self.api.url + "/api/events", json=body, headers=AUTH, timeout=30)
        return response.json()["status"]

    def round(self, size: int = 24) -> None:
        fresh = [move() for _ in range(size)]
        resends = self.stored[:size // 4]
        invalid = [move(game_id=None) for _ in range(size // 4)]
        with ThreadPoolExecutor(max_workers=16) as threads:
            answers = list(threads.map(self._post, [*fresh, *resends, *invalid]))
        assert answers == ["accepted"] * len(fresh) + ["duplicate"] * len(resends) + ["rejected"] * len(invalid)
        self.sent.update(answers)
        self.stored += fresh

    def expected(self) -> dict[str, float]:
        return {status: float(self.sent[status]) for status in STATUSES}


def live_workers(api: Api, count: int) -> list[psutil.Process]:
    workers = api.workers()
    return workers if len(workers) == count and all(w.is_running() for w in workers) else []


def test_counts_are_exact_summed_over_two_workers_and_survive_a_killed_one(api):
    traffic = Traffic(api)
    directory = metrics_dir(api)
    assert directory.endswith(f"/api-metrics/{api.process.pid}")  # the master's own, under MONKEYTOWN_HOME
    pids = {worker.pid for worker in wait_until(lambda: live_workers(api, 2), 30, "two workers up")}

    def both_workers_served():
        traffic.round()
        return all(accepted_by_worker(directory).get(pid, 0) > 0 for pid in pids)

    wait_until(both_workers_served, 60, "both workers answered some events", interval=0)
    page = scrape_api(api)
    assert events(page) == traffic.expected()
    assert requests_counted(page, "POST", "/api/events", "200") == traffic.sent["accepted"] + traffic.sent["duplicate"]
    assert requests_counted(page, "POST", "/api/events", "422") == traffic.sent["rejected"]
    assert page[("monkeytown_api_workers", frozenset())] == 2

    killed = api.workers()[0]
    killed.kill()
    killed.wait(10)
    replaced = wait_until(lambda: live_workers(api, 2) if killed.pid not in {w.pid for w in api.workers()} else [],
                          30, "gunicorn replaced the killed worker")
    (new,) = {w.pid for w in replaced} - pids
    wait_until(lambda: counted_as_worker(directory, new), 30, "the new worker has loaded the app")

    page = scrape_api(api)
    assert events(page) == traffic.expected()  # the dead worker's counts kept, nobody's counted twice
    assert page[("monkeytown_api_workers", frozenset())] == 2  # mark_process_dead dropped its live gauge
    assert os.path.exists(os.path.join(directory, f"counter_{killed.pid}.db"))
    assert not os.path.exists(os.path.join(directory, f"gauge_livesum_{killed.pid}.db"))

    traffic.round()
    assert events(scrape_api(api)) == traffic.expected()


def test_a_given_metrics_directory_is_wiped_at_start(postgres, tmp_path, monkeypatch):
    """A previous run's files (a crashed master leaves them) would add to this run's counts."""
    given = tmp_path / "metrics"
    given.mkdir()
    stale = MmapedDict(str(given / "counter_999999.db"))
    stale.write_value(mmap_key("monkeytown_events", "monkeytown_events_total", ["status"], ["accepted"], "x"), 1000, 0)
    stale.close()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(given))
    with api_server(postgres.url(), tmp_path / "home", workers=1) as server:
        assert events(scrape_api(server)) == {"accepted": 0, "duplicate": 0, "rejected": 0}
        assert not (given / "counter_999999.db").exists()
        assert list(given.glob("counter_*.db"))  # the worker writes there


def test_the_masters_own_directory_goes_at_exit_and_a_dead_masters_at_start(postgres, tmp_path):
    dead = tmp_path / "home" / "api-metrics" / "999999999"  # over any pid_max
    dead.mkdir(parents=True)
    (dead / "counter_999999999.db").write_bytes(b"")
    with api_server(postgres.url(), tmp_path / "home", workers=1) as server:
        own = tmp_path / "home" / "api-metrics" / str(server.process.pid)
        assert scrape_api(server) and list(own.glob("counter_*.db"))
        assert not dead.exists()
    assert not own.exists()
