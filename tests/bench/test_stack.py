"""The ingest benchmark's system under test: the real API and the hello-world under each server (gunicorn sync,
gthread, gevent; granian) come up on a scratch database, answer, and leave no process behind."""

from __future__ import annotations

import os
import urllib.request

from bench.stack import HOST, running_stack


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _server_header(port: int) -> str:
    with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=10) as answer:
        assert answer.status == 200
        return answer.headers["Server"]


def test_the_stack_serves_every_app_and_stops_every_process(monkeypatch, server_url):
    monkeypatch.setenv("MONKEYTOWN_DATABASE_URL", server_url)  # a scratch database on the session's server
    with running_stack() as stack:
        with urllib.request.urlopen(f"http://{HOST}:{stack.api.port}/readyz", timeout=10) as answer:
            assert answer.status == 200
        servers = {name: _server_header(hello.port) for name, hello in stack.hellos.items()}
        pids = [server.process.pid for server in stack.servers().values()]
        assert not stack.embedded
    assert set(servers) == {"sync", "gthread", "gevent", "granian"}
    assert servers["granian"] == "granian" and servers["sync"].startswith("gunicorn")
    assert not any(_alive(pid) for pid in pids)
