"""`monkeytown simulate`: whole games, faults that reach every door path, counts that match the database,
and an HTTP sender that rides out restarts, back-pressure and SIGTERM."""

from __future__ import annotations

import io
import os
import random
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from ingest_api.contracts import AGENT_RUNS_ENDPOINT
from ingest_api.door import LandingRow, Rejection, admit
from monkeytown.client import ClientError, HttpTransport
from monkeytown.simulator import (
    AGENTS,
    FAULTS,
    GAMES,
    FaultInjector,
    Ids,
    Simulation,
    new_agent_run,
    new_session,
    pace_for,
    plan_sends,
    run_simulation,
)
from tests.conftest import WRITE_KEY
from tests.servers import free_port

START = 1_760_000_000.0
EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def games_of(script):
    games = {}
    for moment, event in script:
        games.setdefault(event["game_id"], []).append((moment, event))
    return list(games.values())


def door(event, moment, sent_after=0.0):
    """The real door's verdict on an event received `sent_after` seconds after it happened."""
    return admit(event, datetime.fromtimestamp(moment + sent_after, UTC))


# --- the generator -----------------------------------------------------------------------------------


def test_a_seeded_session_plays_whole_games_that_the_door_accepts():
    session = new_session(random.Random(3), Ids("t"), START, games=120)
    again = new_session(random.Random(3), Ids("t"), START, games=120)
    assert again.script == session.script

    games = games_of(session.script)
    assert len(games) == 120
    ended, winners = 0, Counter()
    for events in games:
        (start_at, start), *rest = events
        assert start["type"] == "game_start" and start["session_id"] == session.session_id
        assert start["game_type"] in GAMES
        moves = [e for _, e in rest if e["type"] == "move"]
        assert len(moves) >= 1 and all(m["move_type"] and isinstance(m["data"], dict) for m in moves)
        assert [e["type"] for _, e in rest[:len(moves)]] == ["move"] * len(moves)
        if rest[-1][1]["type"] == "game_end":
            ended += 1
            end_at, end = rest[-1]
            assert len(rest) == len(moves) + 1
            assert end["duration"] >= 0 and end["duration"] == pytest.approx(end_at - start_at, abs=1e-3)
            winners[end["winner"] if end["winner"] in ("ai", None) else "player"] += 1
            assert end["winner"] in (session.session_id, "ai", None)
            # both sides scored, so a draw against the ai is rated too; the winner has more
            assert set(end["scores"]) == {session.session_id, "ai"}
            if end["winner"] is None:
                assert end["scores"][session.session_id] == end["scores"]["ai"]
            else:
                assert end["scores"][end["winner"]] == max(end["scores"].values()) > min(end["scores"].values())
        else:
            assert len(rest) == len(moves)  # abandoned: no game_end

    assert 90 <= ended < 120  # about one game in ten is abandoned
    assert set(winners) == {"player", "ai", None}
    moments = [m for m, _ in session.script]
    assert moments == sorted(moments)
    ids = [e["event_id"] for _, e in session.script]
    assert len(set(ids)) == len(ids) and all(EVENT_ID.match(i) for i in ids)
    for moment, event in session.script:
        verdict = door(event, moment)
        assert isinstance(verdict, LandingRow) and not verdict.is_anonymous, event


def test_each_game_type_has_its_own_moves_and_length():
    rng = random.Random(5)
    seen = {name: [kind.moves(rng) for _ in range(50)] for name, kind in GAMES.items()}
    move_types = {name: {t for game in games for t, _ in game} for name, games in seen.items()}
    assert move_types["tictactoe"] == {"place"} and move_types["connect4"] == {"drop"}
    assert {"move", "capture", "castle"} <= move_types["chess"] and {"move", "jump"} <= move_types["checkers"]
    assert all(5 <= len(game) <= 9 for game in seen["tictactoe"])
    assert all(len(set(m["cell"] for _, m in game)) == len(game) for game in seen["tictactoe"])
    assert max(len(game) for game in seen["chess"]) > max(len(game) for game in seen["tictactoe"])


def test_a_client_clock_hours_off_is_recovered_by_the_server_skew_correction():
    sessions = (new_session(random.Random(seed), Ids("k"), START, games=1) for seed in range(500))
    session = next(s for s in sessions if abs(s.skew) > 3600)
    moment, event = session.script[-1]
    late = 0.8  # sent a little after it happened
    verdict = door({**event, "sent_at": session.client_time(moment + late)}, moment, sent_after=late)
    assert isinstance(verdict, LandingRow)
    assert abs(verdict.client_timestamp.timestamp() - moment) > 3600
    assert verdict.occurred_at.timestamp() == pytest.approx(moment, abs=0.002)


def test_sends_are_mostly_single_events_sometimes_a_small_batch_sent_when_its_last_event_happens():
    session = new_session(random.Random(8), Ids("b"), START, games=300)
    sends = plan_sends(random.Random(8), session.script)
    assert [e for _, events in sends for e in events] == [e for _, e in session.script]
    sizes = Counter(len(events) for _, events in sends)
    batches = sum(n for size, n in sizes.items() if size > 1)
    assert 0 < batches < 0.05 * len(sends) and max(sizes) <= 20
    at = dict((e["event_id"], m) for m, e in session.script)
    assert all(moment == at[events[-1]["event_id"]] for moment, events in sends)


def test_every_fault_reaches_its_door_path():
    injector = FaultInjector(random.Random(2), share=1.0)
    session = new_session(random.Random(2), Ids("f"), START, games=30)
    now = START + 10
    outcomes = {kind: [] for kind in FAULTS}
    for _, event in session.script:
        before = injector.injected.copy()
        out = injector.inject({**event, "sent_at": session.client_time(now)}, now)
        (kind,) = (injector.injected - before).keys()
        outcomes[kind].append((event, out))
    assert all(outcomes.values()), {k: len(v) for k, v in outcomes.items()}

    for kind in ("missing_field", "schema_mismatch", "stale", "future"):
        for _, (spoiled,) in outcomes[kind]:
            verdict = door(spoiled, now)
            assert isinstance(verdict, Rejection) and verdict.reason == kind, spoiled
    for _, (spoiled,) in outcomes["anonymous_player"]:
        verdict = door(spoiled, now)
        assert isinstance(verdict, LandingRow) and verdict.is_anonymous
        assert verdict.warnings == ["anonymous_player"]
    for event, (first, again) in outcomes["duplicate"]:
        assert again == first and first["event_id"] == event["event_id"]
    for _, (first, edited) in outcomes["duplicate_conflict"]:
        assert edited["event_id"] == first["event_id"]
        assert door(edited, now).payload_hash != door(first, now).payload_hash


def test_about_half_a_percent_of_events_are_spoiled_by_default():
    injector = FaultInjector(random.Random(4))
    for i in range(20000):
        injector.inject({"event_id": f"e{i}", "type": "move", "game_id": "g", "move_type": "drop"}, START)
    assert 0.0035 <= sum(injector.injected.values()) / 20000 <= 0.0065


def test_agent_runs_are_what_ci_posts_and_the_door_accepts_some_of_them_failed():
    ids, rng = Ids("ci"), random.Random(6)
    runs = [new_agent_run(rng, ids, START + i * 60) for i in range(300)]
    assert new_agent_run(random.Random(6), Ids("ci"), START) == runs[0]
    statuses = Counter(run["status"] for run in runs)
    assert set(statuses) == {"succeeded", "failed", "cancelled"}
    assert 0.7 < statuses["succeeded"] / len(runs) < 0.9 and statuses["failed"] > 20
    assert {run["agent_name"] for run in runs} == set(AGENTS) >= {"FounderAI", "AlphaOrchestrator"}
    assert len({run["run_id"] for run in runs}) == len(runs)
    for i, run in enumerate(runs):
        finished = START + i * 60
        verdict = admit(run, datetime.fromtimestamp(finished + 0.5, UTC), endpoint=AGENT_RUNS_ENDPOINT)
        assert isinstance(verdict, LandingRow), run
        assert verdict.occurred_at.timestamp() == pytest.approx(finished, abs=0.001)
        started = datetime.fromisoformat(run["started_at"]).timestamp()
        assert started == pytest.approx(finished - run["duration_seconds"], abs=0.002)
        assert run["files_created"] >= 0 and run["files_modified"] >= 0


def test_a_rate_means_more_sessions_and_shorter_think_times():
    human, load = pace_for(None, 0), pace_for(200, 0)
    assert human.speed == 1 and 2 <= human.sessions <= 5
    assert load.sessions > human.sessions and load.speed > 5
    assert pace_for(200, 3).sessions == 3  # never more seats than games to play


# --- a whole simulation through the real API and database --------------------------------------------


class FakeClock:
    """Time that passes only when the simulation waits, so a run takes no real time."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.now += seconds
        return False


class FlaskClientTransport:
    def __init__(self, client):
        self.client, self.answers, self.paths = client, [], []

    def post(self, body: bytes, path: str = "/api/events") -> tuple[int, dict]:
        response = self.client.post(path, data=body, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {WRITE_KEY}"})
        self.answers.append((orjson.loads(body), response.status_code, response.get_json()))
        self.paths.append(path)
        return response.status_code, response.get_json()


def test_a_seeded_simulation_lands_exactly_what_it_counted(client, db):
    clock, transport = FakeClock(datetime.now(UTC).timestamp()), FlaskClientTransport(client)
    simulation = Simulation(transport, games=12, pace=pace_for(200, 12), rng=random.Random(11), ids=Ids("db"),
                            clock=clock, wait=clock.wait, out=io.StringIO(), fault_share=0.2, agent_run_share=0.5)
    summary = simulation.run()
    injected = simulation.faults.injected

    # the summary is what the API answered
    statuses = Counter()
    for body, status, answer in transport.answers:
        assert status in (200, 422), answer
        for result in answer["results"] if isinstance(body, list) else [answer]:
            statuses[result["status"] if result["status"] != "rejected" else result["reason"]] += 1
    assert summary.accepted == statuses.pop("accepted")
    assert summary.duplicates == statuses.pop("duplicate")
    assert summary.rejected == statuses
    assert summary.requests == len(transport.answers)
    assert summary.sent == summary.accepted + summary.duplicates + sum(summary.rejected.values())
    assert any(isinstance(body, list) for body, _, _ in transport.answers)
    assert summary.games_started == 12 and 0 < summary.games_ended <= 12

    # the database holds exactly that
    assert db.execute("SELECT count(*), count(DISTINCT event_id) FROM raw.events").fetchone() == (
        summary.accepted, summary.accepted)
    assert summary.duplicates == injected["duplicate"] + injected["duplicate_conflict"] > 0
    errors = Counter(dict(db.execute("SELECT reason, count(*) FROM raw.ingest_errors GROUP BY 1").fetchall()))
    assert errors == summary.rejected + Counter(duplicate_conflict=injected["duplicate_conflict"])
    assert {"missing_field", "schema_mismatch", "stale", "future", "duplicate_conflict"} <= set(errors)
    anonymous = db.execute("SELECT count(*) FROM raw.events WHERE is_anonymous").fetchone()[0]
    assert anonymous == summary.warnings["anonymous_player"] == injected["anonymous_player"] > 0
    types = dict(db.execute("SELECT type, count(DISTINCT game_id) FROM raw.events GROUP BY type").fetchall())
    assert 8 <= types["game_start"] <= 12 and types["move"] >= 8
    assert types["game_end"] <= summary.games_ended
    # agent runs went to their own endpoint and landed as CI's agent_run events
    assert 0 < summary.agent_runs == transport.paths.count(AGENT_RUNS_ENDPOINT) < summary.games_started
    runs = db.execute("SELECT source, event_id, payload FROM raw.events WHERE type = 'agent_run'").fetchall()
    assert len(runs) == summary.agent_runs
    assert all(source == "ci" and event_id == f"agent_run:{p['run_id']}" for source, event_id, p in runs)
    # skew-corrected times of every client land within the run, hours-off clocks included
    span = db.execute("SELECT min(occurred_at), max(occurred_at) FROM raw.events").fetchone()
    assert (span[1] - span[0]).total_seconds() < clock.now - simulation.started + 60

    assert f"{summary.accepted} accepted, {summary.duplicates} duplicates" in summary.line(5)


# --- the HTTP sender ---------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def do_POST(self):
        server: FakeApi = self.server
        body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server.requests.append((self.client_address, self.headers["Authorization"], body))
        server.paths.append(self.path)
        if server.responses:
            status, headers, answer = server.responses.pop(0)
        elif isinstance(body, list):
            status, headers, answer = 200, {}, {"accepted": len(body), "duplicates": 0, "rejected": 0,
                                               "results": [{"status": "accepted"} for _ in body]}
        elif self.path.endswith(AGENT_RUNS_ENDPOINT):
            status, headers, answer = 200, {}, {"status": "accepted", "run_id": body["run_id"],
                                               "event_id": f"agent_run:{body['run_id']}"}
        else:
            status, headers, answer = 200, {}, {"status": "accepted", "event_id": body["event_id"]}
        data = orjson.dumps(answer)
        self.send_response(status)
        headers = {**headers, "Content-Type": "application/json", "Content-Length": len(data)}
        for name, value in headers.items():
            self.send_header(name, str(value))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        if server.hang_up_after_each:
            self.close_connection = True  # without saying so, as an idle-timeout would
        server.answered.set()

    def log_message(self, *args):
        pass


class FakeApi(ThreadingHTTPServer):
    """A stand-in API on a loopback port: answers `responses` first, then accepts everything."""

    daemon_threads = True

    def __init__(self, responses=(), hang_up_after_each=False):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.responses, self.hang_up_after_each = list(responses), hang_up_after_each
        self.requests, self.paths, self.answered = [], [], threading.Event()
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def connections(self) -> int:
        return len({address for address, _, _ in self.requests})


@pytest.fixture
def fake_api():
    servers = []

    def start(*args, **kwargs):
        servers.append(FakeApi(*args, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def recorder(waits):
    def wait(seconds):
        waits.append(seconds)
        return False
    return wait


def test_the_sender_keeps_one_connection_alive_and_honours_retry_after(fake_api):
    api = fake_api([(503, {"Retry-After": "3"}, {"error": "database_unavailable", "message": "retry later"}),
                    (429, {"Retry-After": "1"}, {"error": "rate_limited", "message": "slow down"})])
    waits = []
    transport = HttpTransport(api.url, "k1", recorder(waits))
    for i in range(3):
        answer = transport.post(orjson.dumps({"event_id": f"e{i}"}))
        assert answer == (200, {"status": "accepted", "event_id": f"e{i}"})
    transport.close()
    assert waits == [3.0, 1.0]
    assert [body["event_id"] for _, _, body in api.requests] == ["e0", "e0", "e0", "e1", "e2"]
    assert api.connections == 1 and {auth for _, auth, _ in api.requests} == {"Bearer k1"}


def test_the_sender_posts_agent_runs_to_their_endpoint_on_the_same_connection(fake_api):
    api = fake_api()
    transport = HttpTransport(api.url + "/", "k", recorder([]))
    run = new_agent_run(random.Random(1), Ids("h"), START)
    assert transport.post(orjson.dumps({"event_id": "e0"}))[0] == 200
    status, answer = transport.post(orjson.dumps(run), AGENT_RUNS_ENDPOINT)
    transport.close()
    assert (status, answer["run_id"]) == (200, run["run_id"])
    assert api.paths == ["/api/events", "/api/agent-runs"] and api.connections == 1


def test_the_sender_reconnects_at_once_when_the_server_dropped_an_idle_connection(fake_api):
    api = fake_api(hang_up_after_each=True)
    waits = []
    transport = HttpTransport(api.url, "k", recorder(waits))
    for i in range(3):
        assert transport.post(orjson.dumps({"event_id": f"e{i}"}))[0] == 200
    transport.close()
    assert waits == [] and api.connections == 3 and len(api.requests) == 3


def test_the_sender_backs_off_then_gives_up_with_one_clear_line_when_nothing_listens():
    waits = []
    transport = HttpTransport(f"http://127.0.0.1:{free_port()}", "k", recorder(waits), give_up_after=10)
    refused = r"cannot reach http://127\.0\.0\.1:\d+/api/events: Connection refused"
    with pytest.raises(ClientError, match=rf"^{refused}; gave up after retrying for 8 s$") as raised:
        transport.post(b"{}")
    assert "\n" not in str(raised.value)
    assert waits == [0.5, 1.0, 2.0, 4.0]


def test_a_wrong_key_ends_the_run_with_one_line_and_no_traceback(fake_api, capsys):
    api = fake_api([(401, {}, {"error": "unauthorized", "message": "send a valid write key"})])
    assert run_simulation(url=api.url, key="wrong", games=1, rate=None, seed=1) == 1
    out, err = capsys.readouterr()
    assert err == (f"monkeytown simulate: error: {api.url}/api/events refused the write key (401); "
                   "pass the right one as --key\n")
    assert "done after 0 s: 0 games started" in out


def test_bad_arguments_are_refused_with_a_clear_line(capsys):
    assert run_simulation(url="http://127.0.0.1:1", key="k", games=-1, rate=None, seed=None) == 2
    assert run_simulation(url="http://127.0.0.1:1", key="k", games=1, rate=0, seed=None) == 2
    assert run_simulation(url="ftp://example.org", key="k", games=1, rate=None, seed=None) == 1
    err = capsys.readouterr().err.splitlines()
    assert [line.split(": ", 2)[2] for line in err] == [
        "--games must be 0 (until stopped) or more",
        "--rate must be a positive number of events per second",
        "'ftp://example.org' is not an http:// or https:// URL",
    ]


def test_sigterm_stops_an_endless_run_cleanly_with_a_summary(fake_api, tmp_path):
    api = fake_api()
    process = subprocess.Popen(
        [sys.executable, "-m", "monkeytown.cli", "simulate", "--games", "0", "--url", api.url, "--key", "k"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "MONKEYTOWN_HOME": str(tmp_path)},
    )
    try:
        assert api.answered.wait(15), "the simulator sent nothing"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0 and err == ""
    first, *_, done, faults = out.splitlines()
    assert first.startswith("simulate: endless games at human pace")
    sent = sum(len(body) if isinstance(body, list) else 1 for _, _, body in api.requests)
    assert done.startswith("simulate: done after")
    assert f"{sent} events in {len(api.requests)} requests" in done
    assert faults.startswith("simulate: faults injected:")
