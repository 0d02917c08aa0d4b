"""The JavaScript client (/sdk/monkeytown.js) in a real headless Chromium (Debian's, driven by Playwright) against the
API under gunicorn: a game page loads the client from the API, tracks a game and flushes; the events land in
raw.events once each, with their ids, the client's timestamps and the sent_at that corrects a skewed clock; the
WebSocket carries them when it may, and still does after the API's workers are killed mid-stream; a page whose Origin
the stream refuses falls back to HTTP; a rejected event is reported and never sent again; what is queued when the
page goes away leaves in a keepalive request. The client's pure logic (backoff, batching, ids) runs in the page too.

The game's page comes from a site of the test's own, as a game's would: at http://127.0.0.1:<port>, an Origin listed in
MONKEYTOWN_ALLOWED_ORIGINS, or at http://localhost:<port>, one that is not (both loopback, so that Chromium's local
network access checks, which a page from a public address would meet, do not apply)."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from tests.browser import CHROMIUM, NO_CHROMIUM, chromium
from tests.servers import WRITE_KEY, api_server, wait_until

# the subject is the client and what it makes the API do; the database only stores what arrived
pytestmark = [pytest.mark.server_independent, pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)]
#: Bounds of every wait, in seconds: acks come within milliseconds; a killed worker is replaced within seconds.
WAIT_SECONDS = 30
GAME_PAGE = "/sdk-test/game.html"
STREAM = "/api/events/stream"
#: The page's clock, ahead of the server's by more than the door's 1 h future limit.
SKEW = timedelta(hours=2)
EVENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # the contract's event_id

HARNESS = """<!doctype html>
<meta charset="utf-8">
<title>a game</title>
<script src="{api}/sdk/monkeytown.js" crossorigin="anonymous"></script>
<script>
  window.answers = [];
  window.problems = [];
  window.start = (options) => {{
    window.mt = Monkeytown.init(Object.assign({{
      url: "{api}", key: "{key}", backoffBaseMs: 50, backoffMaxMs: 1000,
      onResult: (result, event) => answers.push({{status: result.status, reason: result.reason || null,
                                                 event_id: event.event_id}}),
      onError: (error) => problems.push({{code: error.code, events: (error.events || []).length}}),
    }}, options));
    return mt.transport;
  }};
  window.playGame = (game_id, moves) => [
    mt.track("game_start", {{game_id, game_type: "chess", session_id: "s-alice"}}),
    ...Array.from({{length: moves}}, (_, i) => mt.track("move", {{game_id, move_type: "place", session_id: "s-alice",
                                                               data: {{n: i}}}})),
    mt.track("game_end", {{game_id, duration: 12.5, winner: "s-alice"}}),
  ];
  window.flushed = (ms) => Promise.race([mt.flush(), new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`flush() not resolved within ${{ms}} ms`)), ms))]);
</script>
"""


class GameSite(BaseHTTPRequestHandler):
    """The game's page, with the client loaded from the API its `api` query parameter names."""

    def do_GET(self):  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        if url.path != GAME_PAGE:
            self.send_error(404)
            return
        body = HARNESS.format(api=parse_qs(url.query)["api"][0], key=WRITE_KEY).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def game_site() -> Iterator[int]:
    """The site serving the game's page on a loopback port, which it yields."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), GameSite)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def site_port():
    with game_site() as port:
        yield port


@pytest.fixture(scope="module")
def database(make_database):
    return make_database()


@pytest.fixture(scope="module")
def api(database, site_port, tmp_path_factory):
    env = {"MONKEYTOWN_ALLOWED_ORIGINS": f"http://127.0.0.1:{site_port}"}
    with api_server(database, tmp_path_factory.mktemp("sdk-api"), env=env) as api:
        yield api


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


class GamePage:
    """A game's page in a fresh browser context, at `origin`, with the client loaded from the API; it records
    every WebSocket the page opens and each frame sent and received on it."""

    def __init__(self, browser, api, origin: str):
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.sockets = []
        self.sent: list[list[dict]] = []
        self.acks: list[dict] = []
        self.page.on("websocket", self._watch)
        self.page.goto(f"{origin}{GAME_PAGE}?api={api.url}")
        self.page.wait_for_function("window.Monkeytown !== undefined", timeout=WAIT_SECONDS * 1000)

    def _watch(self, socket) -> None:
        if STREAM in socket.url:
            self.sockets.append(socket)
            socket.on("framesent", lambda payload: self.sent.append(json.loads(payload)))
            socket.on("framereceived", lambda payload: self.acks.append(json.loads(payload)))

    def start(self, **options) -> str:
        """Monkeytown.init with the harness's url, key, callbacks and `options`; the transport it starts with."""
        return self.page.evaluate("options => start(options)", options)

    def play_game(self, game_id: str, moves: int) -> list[dict]:
        return self.page.evaluate("([game, moves]) => playGame(game, moves)", [game_id, moves])

    def flush(self) -> None:
        self.page.evaluate("ms => flushed(ms)", WAIT_SECONDS * 1000)

    def answers(self) -> list[dict]:
        return self.page.evaluate("answers")

    def problems(self) -> list[dict]:
        return self.page.evaluate("problems")

    def until(self, condition, what: str):
        """Waits for `condition`, letting Playwright deliver the page's events (frames) in between."""

        def delivered_then_checked():
            self.page.evaluate("0")  # a round trip, during which Playwright hands over the page's events
            return condition()

        return wait_until(delivered_then_checked, WAIT_SECONDS, what)

    def sent_ids(self) -> list[str]:
        return [event["event_id"] for message in self.sent for event in message]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def game(browser, api, site_port):
    """The game's page at an Origin the stream allows."""
    page = GamePage(browser, api, f"http://127.0.0.1:{site_port}")
    yield page
    page.close()


@pytest.fixture
def unlisted_game(browser, api, site_port):
    """The game's page at an Origin the stream refuses."""
    page = GamePage(browser, api, f"http://localhost:{site_port}")
    yield page
    page.close()


def stored_rows(database: str, ids: list[str]) -> dict[str, dict]:
    """event_id -> its raw.events row (several rows for one id would fail the test)."""
    with psycopg.connect(database, autocommit=True) as db:
        cursor = db.execute(
            "SELECT event_id, type, client_timestamp, sent_at, received_at, occurred_at FROM raw.events"
            " WHERE event_id = ANY(%s)", (ids,))
        columns = [column.name for column in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    assert len(rows) == len({row["event_id"] for row in rows}), "an event_id stored twice"
    return {row["event_id"]: row for row in rows}


def errors_recorded(database: str, event_id: str) -> list[str]:
    with psycopg.connect(database, autocommit=True) as db:
        return [row[0] for row in db.execute("SELECT reason FROM raw.ingest_errors WHERE event_id = %s",
                                             (event_id,))]


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_game_streams_over_one_websocket_in_batches_and_lands_once_each(game, database):
    page = game
    assert page.start(batchSize=4, flushIntervalMs=60_000) == "websocket"
    events = page.play_game("g-stream", moves=8)  # 10 events: two full batches leave at once, two wait
    page.until(lambda: len(page.acks) == 2, "the two full batches are acknowledged")
    page.flush()
    ids = [event["event_id"] for event in events]
    assert [len(message) for message in page.sent] == [4, 4, 2]
    assert page.sent_ids() == ids
    assert [ack["seq"] for ack in page.acks] == [1, 2, 3]
    assert len(page.sockets) == 1
    assert [(answer["event_id"], answer["status"]) for answer in page.answers()] == [(i, "accepted") for i in ids]
    rows = stored_rows(database, ids)
    assert set(rows) == set(ids)
    for event in events:
        row = rows[event["event_id"]]
        assert row["type"] == event["type"]
        assert row["client_timestamp"] == parse_time(event["timestamp"])
        assert row["client_timestamp"] <= row["sent_at"]  # stamped when it left, not when tracked
    assert page.problems() == []


def test_a_skewed_clock_is_corrected_with_sent_at(game, database):
    page = game
    page.page.clock.set_system_time(datetime.now(UTC) + SKEW)
    page.start()
    (event,) = page.page.evaluate("[mt.track('move', {game_id: 'g-skew', move_type: 'place'})]")
    page.flush()
    assert page.answers()[0]["status"] == "accepted"  # 2 h ahead, it would be refused as `future` without sent_at
    row = stored_rows(database, [event["event_id"]])[event["event_id"]]
    assert row["client_timestamp"] - row["received_at"] > SKEW - timedelta(minutes=1)
    assert abs(row["occurred_at"] - row["received_at"]) < timedelta(seconds=5)


def test_every_event_lands_exactly_once_when_the_workers_are_killed_mid_stream(game, api, database):
    page = game
    page.start(batchSize=5, flushIntervalMs=20)
    total = 150
    page.page.evaluate("""total => { window.tracked = [];
        window.playing = (async () => { for (let i = 0; i < total; i++) {
            tracked.push(mt.track("move", {game_id: "g-killed", move_type: "place", data: {n: i}}).event_id);
            await new Promise(resolve => setTimeout(resolve, 10)); } })(); }""", total)
    page.until(lambda: len(page.acks) >= 5, "some messages are acknowledged")
    for worker in api.workers():
        worker.kill()
    page.page.evaluate(f"Promise.race([playing, new Promise((_, no) => setTimeout(no, {WAIT_SECONDS * 1000}))])")
    page.flush()
    ids = page.page.evaluate("tracked")
    answers = page.answers()
    assert len(ids) == total and sorted(a["event_id"] for a in answers) == sorted(ids)  # one answer each
    assert {a["status"] for a in answers} <= {"accepted", "duplicate"}
    assert set(stored_rows(database, ids)) == set(ids)
    assert len(page.sockets) >= 2, "the client reconnected"
    assert page.page.evaluate("mt.transport") == "websocket"
    wait_until(api.is_ready, WAIT_SECONDS, "gunicorn replaced the killed workers", interval=0.1)


def test_a_page_whose_origin_the_stream_refuses_sends_over_http(unlisted_game, database):
    page = unlisted_game
    assert page.start(refusalsBeforeHttp=2) == "websocket"
    events = page.play_game("g-fallback", moves=3)
    page.flush()
    ids = [event["event_id"] for event in events]
    assert page.page.evaluate("mt.transport") == "http"
    assert len(page.sockets) == 2 and page.sent == []  # both refused at the handshake, nothing sent on them
    assert {problem["code"] for problem in page.problems()} == {"websocket_refused"}
    assert [(answer["event_id"], answer["status"]) for answer in page.answers()] == [(i, "accepted") for i in ids]
    assert set(stored_rows(database, ids)) == set(ids)


def test_transport_websocket_keeps_to_the_socket_when_it_is_refused(unlisted_game):
    page = unlisted_game
    posts = []
    page.page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
    page.start(transport="websocket", refusalsBeforeHttp=1)
    page.play_game("g-strict", moves=1)
    page.page.evaluate("mt.flush(), 0")  # not awaited: it resolves only once the socket is allowed
    page.until(lambda: len(page.sockets) >= 3, "three handshakes tried")
    assert page.page.evaluate("[mt.transport, mt.pending]") == ["websocket", 3]
    assert posts == [] and page.sent == []


def test_a_429_is_sent_again_only_after_its_retry_after_with_a_fresh_sent_at(game, database):
    page = game
    posts, bodies = [], []

    def refuse_the_first(route):
        posts.append(time.monotonic())
        bodies.append(json.loads(route.request.post_data))
        if len(posts) > 1:
            route.continue_()
            return
        route.fulfill(status=429, json={"error": "rate_limited", "message": "slow down"}, headers={
            "Retry-After": "1", "Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Retry-After"})

    page.page.route("**/api/events", refuse_the_first)
    page.start(transport="http")
    events = page.play_game("g-throttled", moves=1)
    page.flush()
    assert len(posts) == 2 and posts[1] - posts[0] >= 1  # the jittered backoff alone would be 25-50 ms
    first, again = ([(e["event_id"], parse_time(e["sent_at"])) for e in body] for body in bodies)
    assert [event_id for event_id, _ in first] == [event_id for event_id, _ in again]
    assert all(resent - sent >= timedelta(seconds=1) for (_, sent), (_, resent) in zip(first, again, strict=True))
    assert [problem["code"] for problem in page.problems()] == ["rate_limited"]
    ids = [event["event_id"] for event in events]
    assert set(stored_rows(database, ids)) == set(ids)


def test_a_rejected_event_is_reported_and_never_sent_again(game, database):
    page = game
    page.start(flushIntervalMs=20)
    bad, good = page.page.evaluate("""[mt.track("move", {game_id: "g-rejected"}),
                                       mt.track("move", {game_id: "g-rejected", move_type: "place"})]""")
    page.flush()
    later = page.play_game("g-after", moves=1)
    page.flush()
    answers = {answer["event_id"]: answer for answer in page.answers()}
    assert (answers[bad["event_id"]]["status"], answers[bad["event_id"]]["reason"]) == ("rejected", "missing_field")
    assert answers[good["event_id"]]["status"] == "accepted"
    assert len(answers) == 2 + len(later)
    assert page.sent_ids().count(bad["event_id"]) == 1
    assert errors_recorded(database, bad["event_id"]) == ["missing_field"]
    assert set(stored_rows(database, [bad["event_id"], good["event_id"]])) == {good["event_id"]}


def test_what_is_queued_when_the_page_goes_away_leaves_in_a_keepalive_request(game, api, database):
    page = game
    page.start(transport="http", flushIntervalMs=600_000)
    events = page.play_game("g-unload", moves=2)
    page.page.goto(f"{api.url}/healthz")  # the game's page is gone: nothing was flushed
    ids = [event["event_id"] for event in events]
    wait_until(lambda: len(stored_rows(database, ids)) == len(ids), WAIT_SECONDS, "the queued events land")


def test_backoff_grows_exponentially_with_jitter_up_to_its_cap(game):
    delays = game.page.evaluate("""() => {
        const {backoffDelay} = Monkeytown.internals;
        return [0, 1, 2, 3, 10, 60].map(attempt =>
            [backoffDelay(attempt, 500, 30000, () => 0), backoffDelay(attempt, 500, 30000, () => 1)]);
    }""")
    assert delays == [[250, 500], [500, 1000], [1000, 2000], [2000, 4000], [15000, 30000], [15000, 30000]]


def test_a_message_holds_at_most_the_batch_size_and_the_byte_cap_and_stamps_sent_at(game):
    counts = game.page.evaluate("""() => {
        const {nextMessage} = Monkeytown.internals;
        const entries = Array.from({length: 10}, (_, i) => ({event: {event_id: "e" + i, type: "move",
                                                                     data: {pad: "x".repeat(100)}}}));
        const now = new Date("2026-01-18T12:00:00Z");
        const byCount = nextMessage(entries, 4, 1 << 20, now);
        const byBytes = nextMessage(entries, 10, 400, now);
        const huge = nextMessage(entries, 10, 10, now);
        return [byCount.count, byBytes.count, huge.count, JSON.parse(byCount.body).map(e => e.sent_at)];
    }""")
    assert counts == [4, 2, 1, ["2026-01-18T12:00:00.000Z"] * 4]


@pytest.mark.parametrize("crypto", ["crypto", "({getRandomValues: b => crypto.getRandomValues(b)})", "undefined"],
                         ids=["randomUUID", "getRandomValues", "no-crypto"])
def test_event_ids_are_unique_and_of_the_allowed_characters(game, crypto):
    ids = game.page.evaluate(
        f"Array.from({{length: 200}}, () => Monkeytown.internals.newEventId({crypto}))")
    assert len(set(ids)) == 200
    assert all(EVENT_ID.fullmatch(event_id) for event_id in ids), ids[:3]


def test_a_module_may_import_the_client(game, api):
    defined = game.page.evaluate("""async url => { delete globalThis.Monkeytown;
        await import(url); return typeof Monkeytown.init; }""", f"{api.url}/sdk/monkeytown.js")
    assert defined == "function"
