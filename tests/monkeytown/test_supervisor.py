import signal
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

from monkeytown.supervisor import (
    ChildFailed,
    RestartPolicy,
    Supervisor,
    child_environment,
    unused_port,
    wait_until_listening,
)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_helper_exiting_leaves_the_rest_running_and_an_essential_exit_is_reported(capfd):
    supervisor = Supervisor()
    env = child_environment({})
    helper = supervisor.spawn("helper", python("raise SystemExit(3)"), env, essential=False)
    helper.process.wait()
    api = supervisor.spawn("api", python("import time; time.sleep(1)"), env)
    assert supervisor.wait() is api
    assert [c.name for c in supervisor.children] == ["api"]
    assert "the helper process exited (code 3); the rest keeps running" in capfd.readouterr().err


def test_stop_all_ends_every_child_newest_first():
    supervisor = Supervisor()
    env = child_environment({})
    children = [supervisor.spawn(name, python("import time; time.sleep(60)"), env) for name in ("a", "b")]
    supervisor.stop_all(grace_seconds=5)
    assert [c.process.returncode for c in children] == [-15, -15]
    assert supervisor.children == []


def test_stop_all_also_ends_what_a_child_started(tmp_path):
    supervisor = Supervisor()
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time, pathlib; "
        "p = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)']); "
        f"pathlib.Path({str(pid_file)!r}).write_text(str(p.pid)); time.sleep(60)"
    )
    supervisor.spawn("parent", python(code), child_environment({}))
    while not pid_file.exists() or not pid_file.read_text():
        time.sleep(0.05)
    grandchild = psutil.Process(int(pid_file.read_text()))
    supervisor.stop_all(grace_seconds=2)
    grandchild.wait(5)
    assert not grandchild.is_running()


def test_a_crashed_child_is_restarted_with_growing_backoff_and_each_crash_is_told(capfd):
    crashes = []
    policy = RestartPolicy(max_crashes=2, window_seconds=60, first_backoff=0.2, max_backoff=1.0)
    supervisor = Supervisor(policy, on_crash=crashes.append)
    env = child_environment({})
    crasher = supervisor.spawn("api", python("raise SystemExit(7)"), env, restart=True)
    first_pid = crasher.process.pid
    started = time.monotonic()
    assert supervisor.wait() is crasher  # the third crash within the window: given up
    assert time.monotonic() - started >= 0.2 + 0.4  # the two backoffs were waited out
    assert [(c.name, c.exit_code, c.recent_crashes, c.restart_in) for c in crashes] == [
        ("api", 7, 1, 0.2), ("api", 7, 2, 0.4), ("api", 7, 3, None)]
    assert crasher.process.pid != first_pid
    assert "the api process exited (code 7); restarting it in 0.2 s" in capfd.readouterr().err
    supervisor.stop_all(grace_seconds=1)


def test_a_restarted_child_runs_again_and_stop_all_ends_it_even_during_a_backoff(tmp_path):
    marker = tmp_path / "runs"
    code = (f"import pathlib, time; p = pathlib.Path({str(marker)!r}); n = len(p.read_text()) if p.exists() else 0; "
            "p.write_text('x' * (n + 1)); time.sleep(60) if n else exit(1)")
    supervisor = Supervisor(RestartPolicy(first_backoff=0.1))
    child = supervisor.spawn("daemon", python(code), child_environment({}), restart=True)
    watcher = threading.Thread(target=supervisor.wait)
    watcher.start()
    try:
        deadline = time.monotonic() + 20
        while (not marker.exists() or marker.read_text() != "xx") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.read_text() == "xx"  # crashed once, then started again and kept running
        assert child.process.poll() is None
    finally:
        supervisor.stopping.set()
        watcher.join(5)
        supervisor.stop_all(grace_seconds=2)
    assert child.process.returncode == -15


def test_the_backoff_doubles_up_to_its_ceiling():
    policy = RestartPolicy(first_backoff=1, max_backoff=30)
    assert [policy.backoff(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_failing_crash_recorder_does_not_stop_the_supervisor(capfd):
    def broken(crash):
        raise RuntimeError("database down")

    supervisor = Supervisor(RestartPolicy(max_crashes=0), on_crash=broken)
    child = supervisor.spawn("api", python("raise SystemExit(1)"), child_environment({}), restart=True)
    assert supervisor.wait() is child
    assert "could not record the api crash: database down" in capfd.readouterr().err


MIDNIGHT = datetime(2026, 11, 30, tzinfo=UTC).timestamp()  # 2026-11-29 ends here

# numbered lines, a few a millisecond, until the stop file appears: one more line, then exit
COUNTER = ("import itertools, pathlib, sys, time; stop = pathlib.Path(sys.argv[1])\n"
           "for n in itertools.count():\n"
           "    print(n)\n"
           "    if stop.exists(): break\n"
           "    time.sleep(0.0005)\n")


def numbers(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().splitlines()]


def wait_for(condition, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_running_childs_output_is_rotated_at_utc_midnight_without_losing_a_line(tmp_path):
    now = [MIDNIGHT - 60]
    supervisor = Supervisor(clock=lambda: now[0])
    live, dated, stop = tmp_path / "api.log", tmp_path / "api.2026-11-29.log", tmp_path / "stop"
    child = supervisor.spawn("api", [sys.executable, "-c", COUNTER, str(stop)], child_environment({}), output=live)
    try:
        wait_for(lambda: live.read_text().count("\n") >= 100)
        now[0] = MIDNIGHT + 1
        wait_for(dated.exists)  # the next line it sends rotates the file
        wait_for(lambda: live.read_text().count("\n") >= 100)
        assert child.process.poll() is None  # the same process, writing all along
        stop.touch()
        assert child.process.wait(10) == 0
    finally:
        supervisor.stop_all(grace_seconds=2)  # also waits for the last lines to reach the file
    before, after = numbers(dated), numbers(live)
    assert before == list(range(len(before))) and len(before) >= 100
    assert after == list(range(len(before), len(before) + len(after))) and len(after) >= 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["api.2026-11-29.log", "api.log", "stop"]


def test_an_idle_output_is_rotated_by_the_supervisors_loop(tmp_path):
    now = [MIDNIGHT - 60]
    supervisor = Supervisor(clock=lambda: now[0])
    live, dated = tmp_path / "dagster.log", tmp_path / "dagster.2026-11-29.log"
    env = child_environment({})
    for name in ("webserver", "daemon"):  # two children, one file: one writer
        supervisor.spawn(name, python(f"print('{name} up'); import time; time.sleep(60)"), env, output=live)
    watcher = threading.Thread(target=supervisor.wait)
    watcher.start()
    try:
        wait_for(lambda: live.read_text().count("\n") == 2)
        now[0] = MIDNIGHT + 1
        wait_for(dated.exists)
    finally:
        supervisor.stopping.set()
        watcher.join(5)
        supervisor.stop_all(grace_seconds=2)
    assert sorted(dated.read_text().splitlines()) == ["daemon up", "webserver up"]
    assert live.read_text() == ""


def test_a_child_ends_on_sigterm_even_when_its_parent_blocks_or_ignores_sigterm():
    supervisor = Supervisor()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    ignored = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:  # both are inherited through exec: without the reset, stop_all could only end the child by SIGKILL
        child = supervisor.spawn("api", python("import time; time.sleep(60)"), child_environment({}))
    finally:
        signal.signal(signal.SIGTERM, ignored)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    supervisor.stop_all(grace_seconds=5)
    assert child.process.returncode == -signal.SIGTERM


def test_waiting_for_a_listener_returns_once_one_accepts_and_fails_in_one_line_when_none_does():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        wait_until_listening("127.0.0.1", server.getsockname()[1], Supervisor(), "the test server", timeout=5)
    port = unused_port("127.0.0.1")
    with pytest.raises(ChildFailed, match=rf"^the code server was not listening on 127.0.0.1:{port} after 1 s"):
        wait_until_listening("127.0.0.1", port, Supervisor(), "the code server", timeout=1)
