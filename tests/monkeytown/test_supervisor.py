import sys
import time

import psutil

from monkeytown.supervisor import Supervisor, child_environment


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
