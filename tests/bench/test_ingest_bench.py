"""The ingest benchmark's judgments (the best hello-world of a round, a worker left without connections, the
batch goal in every round) and its load generator against a server that closes every connection."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench import loadgen
from bench.cpu import postmaster_pid
from bench.summary import best_server, met_in_every_round, one_worker_held_all


def test_the_best_hello_world_is_the_fastest_server_of_the_round():
    assert best_server({"sync": 2600.0, "gthread": 5000.0, "gevent": 3400.0, "granian": 9900.0}) == "granian"
    assert best_server({"sync": 2600.0, "gthread": 5000.0}) == "gthread"


def test_a_worker_under_5_percent_of_the_workers_cpu_means_one_worker_held_every_connection():
    assert one_worker_held_all([0.95, 0.04])
    assert not one_worker_held_all([0.9, 0.06])
    assert not one_worker_held_all([0.5, 0.45])
    assert not one_worker_held_all([0.9])  # one worker configured: nothing to spread
    assert not one_worker_held_all([0.0, 0.0])  # no work at all


def test_the_batch_goal_holds_only_when_every_round_reaches_it():
    assert met_in_every_round([0.61, 0.70, 0.60], 0.6)
    assert not met_in_every_round([0.75, 0.80, 0.59], 0.6)  # the median would pass
    assert not met_in_every_round([], 0.6)


class _ClosingHandler(BaseHTTPRequestHandler):
    """Answers every request with `Connection: close` and closes, as gunicorn's sync worker does."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"status":"accepted"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def closing_server() -> Iterator[tuple[str, int]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ClosingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address
    server.shutdown()
    server.server_close()


def test_the_load_generator_reconnects_after_each_answer_of_a_server_that_closes(closing_server):
    host, port = closing_server
    request = (f"POST /api/events HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
               "Content-Length: 2\r\n\r\n{}").encode()
    result = loadgen.closed_loop(closing_server, [request], 4, 0.0, 0.5, lambda status, body: status == 200)
    assert result["ok"] > 20 and result["statuses"] == {200: result["ok"]}
    # every answer closed its connection: one new connection per answer, none lost under a request
    assert result["reconnects"] == {"closed_after_answer": result["sent"]}


def test_the_postmaster_is_found_for_cpu_accounting(database_url):
    pid = postmaster_pid(database_url)
    assert pid is not None and b"postgres" in Path(f"/proc/{pid}/cmdline").read_bytes()
