"""The ingest benchmark's system under test: the real API and the hello-world come up on a scratch database,
answer, and leave no process behind."""

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


def test_the_stack_serves_both_apps_and_stops_every_process(monkeypatch, server_url):
    monkeypatch.setenv("MONKEYTOWN_DATABASE_URL", server_url)  # a scratch database on the session's server
    with running_stack() as stack:
        for port, path in ((stack.api.port, "/readyz"), (stack.hello.port, "/healthz")):
            with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=10) as answer:
                assert answer.status == 200
        pids = [stack.api.process.pid, stack.hello.process.pid]
        assert not stack.embedded
    assert not any(_alive(pid) for pid in pids)
