import sys

from ingest_api.supervisor import Supervisor, child_environment


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
