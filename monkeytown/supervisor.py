"""The platform's processes in the foreground (`monkeytown up`, the benchmarks): each in its own process group, ended
with its parent; Ctrl-C stops every one of them. A child's output file is written by the supervisor from the child's
pipe, and rotated at UTC midnight (log_rotation.ChildOutput)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from monkeytown.log_rotation import ChildOutput
from monkeytown.settings import SettingsError

_PR_SET_PDEATHSIG = 1


class ChildFailed(RuntimeError):
    """A child process exited during start-up or never became ready; the message says which, in one line."""


def die_with_parent() -> None:
    """For preexec_fn: a child outlives a parent killed with SIGKILL unless the kernel is told to end it. The
    child also starts with SIGTERM at its default and no signal blocked: a blocked mask or an ignored SIGTERM is
    inherited through exec, and such a child would only ever end by SIGKILL."""
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def ensure_port_free(host: str, port: int, setting: str) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise SettingsError(
                f"port {port} on {host} is not available ({error.strerror}); stop what uses it or set {setting} "
                "to a free port"
            ) from None


@dataclass(frozen=True)
class RestartPolicy:
    """A crashed child comes back after `first_backoff` seconds, doubling up to `max_backoff`; more than
    `max_crashes` crashes within `window_seconds` and the supervisor gives up on it."""

    max_crashes: int = 5
    window_seconds: float = 300.0
    first_backoff: float = 1.0
    max_backoff: float = 30.0

    def backoff(self, recent_crashes: int) -> float:
        return min(self.first_backoff * 2 ** max(recent_crashes - 1, 0), self.max_backoff)


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    essential: bool  # the platform stops when an essential child exits on its own and is not restarted
    argv: list[str] = field(default_factory=list)
    env: dict = field(default_factory=dict)
    output: Path | None = None  # its stdout and stderr, through the supervisor (ChildOutput), rotated daily
    restart: bool = False  # restarted with backoff when it exits on its own
    crashes: deque[float] = field(default_factory=deque)  # monotonic times of recent crashes
    restart_at: float | None = None  # while waiting out a backoff


@dataclass(frozen=True)
class Crash:
    """What `on_crash` hears: a child exited on its own; `restart_in` seconds until it is started again, or
    None when the supervisor gave up on it."""

    name: str
    exit_code: int
    recent_crashes: int
    restart_in: float | None


def _start(argv: list[str], env: dict, piped: bool) -> subprocess.Popen:
    """A child in its own process group; `piped` sends its stdout and stderr to one pipe instead of the console."""
    return subprocess.Popen(argv, env=env, start_new_session=True, preexec_fn=die_with_parent,
                            stdout=subprocess.PIPE if piped else None, stderr=subprocess.STDOUT if piped else None)


class Supervisor:
    def __init__(self, policy: RestartPolicy = RestartPolicy(), on_crash: Callable[[Crash], None] | None = None,
                 clock: Callable[[], float] = time.time):
        self.children: list[Child] = []
        self.stopping = threading.Event()
        self.policy = policy
        self.on_crash = on_crash
        self.clock = clock  # wall time, for the outputs' UTC days
        self.outputs: dict[Path, ChildOutput] = {}

    def spawn(self, name: str, argv: list[str], env: dict, essential: bool = True,
              output: Path | None = None, restart: bool = False) -> Child:
        child = Child(name, self._launch(name, argv, env, output), essential, argv, env, output, restart)
        self.children.append(child)
        return child

    def _launch(self, name: str, argv: list[str], env: dict, output: Path | None) -> subprocess.Popen:
        process = _start(argv, env, piped=output is not None)
        if output is not None:
            self._output(output).feed_from(process.stdout, name)
        return process

    def _output(self, path: Path) -> ChildOutput:
        """One per file: children sharing a file (the Dagster webserver and daemon) share its writer."""
        key = path.absolute()
        if key not in self.outputs:
            self.outputs[key] = ChildOutput(path, self.clock)
        return self.outputs[key]

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda *_: self.stopping.set())

    def first_exited(self) -> Child | None:
        return next((c for c in self.children if c.restart_at is None and c.process.poll() is not None), None)

    def wait(self) -> Child | None:
        """Until a stop signal (None), or until an essential child exits on its own and is not (or no longer)
        restarted: that child. Restartable children that crash come back after a backoff."""
        while not self.stopping.wait(0.2):
            self.rotate_idle_outputs()
            now = time.monotonic()
            for child in list(self.children):
                if child.restart_at is not None:
                    if now >= child.restart_at:
                        self._restart(child)
                    continue
                if child.process.poll() is None:
                    continue
                if child.restart and self._schedule_restart(child, now):
                    continue
                if child.essential:
                    return child
                print(f"monkeytown: the {child.name} process exited (code {child.process.returncode}); "
                      "the rest keeps running", file=sys.stderr, flush=True)
                self.children.remove(child)
        return None

    def _schedule_restart(self, child: Child, now: float) -> bool:
        """Records the crash; False when the child crashed too often to be started again."""
        child.crashes.append(now)
        while child.crashes and child.crashes[0] < now - self.policy.window_seconds:
            child.crashes.popleft()
        recent = len(child.crashes)
        _signal_group(child.process.pid, signal.SIGKILL)  # what it started may still hold its port
        if recent > self.policy.max_crashes:
            self._tell(Crash(child.name, child.process.returncode, recent, None))
            return False
        backoff = self.policy.backoff(recent)
        child.restart_at = now + backoff
        print(f"monkeytown: the {child.name} process exited (code {child.process.returncode}); restarting it in "
              f"{backoff:g} s", file=sys.stderr, flush=True)
        self._tell(Crash(child.name, child.process.returncode, recent, backoff))
        return True

    def _restart(self, child: Child) -> None:
        child.process = self._launch(child.name, child.argv, child.env, child.output)
        child.restart_at = None

    def rotate_idle_outputs(self) -> None:
        for output in list(self.outputs.values()):
            output.rotate_if_due()

    def _tell(self, crash: Crash) -> None:
        if self.on_crash is None:
            return
        try:
            self.on_crash(crash)
        except Exception as error:  # recording a crash must never take the supervisor down with it
            print(f"monkeytown: warning: could not record the {crash.name} crash: {error}", file=sys.stderr,
                  flush=True)

    def stop_all(self, grace_seconds: float = 15) -> None:
        """SIGTERM to every child's process group, newest first, then SIGKILL to whatever of the groups is left
        after `grace_seconds` in all (each child leads its own group, so its own children go too)."""
        for child in reversed(self.children):
            _signal_group(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for child in reversed(self.children):
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(max(deadline - time.monotonic(), 0))
        for child in reversed(self.children):
            _signal_group(child.process.pid, signal.SIGKILL)
            child.process.wait()
        self.children.clear()
        drained = time.monotonic() + 5  # a grandchild that left its group may hold a pipe open: bounded
        for output in self.outputs.values():
            output.close(max(drained - time.monotonic(), 0))
        self.outputs.clear()


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def not_ready_because(url: str) -> str | None:
    """None when GET `url` answers 200, else what happened instead."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return None if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except OSError as error:
        return str(error)


def wait_until_ready(url: str, supervisor: Supervisor, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        exited = supervisor.first_exited()
        if exited:
            raise ChildFailed(f"the {exited.name} process exited during start-up (code {exited.process.returncode}); "
                                "see the lines above")
        if supervisor.stopping.is_set() or (last := not_ready_because(url)) is None:
            return
        time.sleep(0.2)
    raise ChildFailed(f"{url} was not ready after {timeout:.0f} s ({last}); see the log above")


def unused_port(host: str) -> int:
    """A port nothing listens on now, for a child that serves only this machine's other children."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_until_listening(host: str, port: int, supervisor: Supervisor, what: str, timeout: float = 60) -> None:
    """Until something accepts TCP connections on host:port (a server that answers no HTTP, such as gRPC)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exited = supervisor.first_exited()
        if exited:
            raise ChildFailed(f"the {exited.name} process exited during start-up (code {exited.process.returncode}); "
                              "see the lines above")
        if supervisor.stopping.is_set():
            return
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        time.sleep(0.2)
    raise ChildFailed(f"{what} was not listening on {host}:{port} after {timeout:.0f} s; see the log above")


def child_environment(extra: dict) -> dict:
    env = dict(os.environ)
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def venv_tool(name: str) -> str:
    """A console script installed beside this Python (works without an activated venv)."""
    return str(Path(sys.executable).with_name(name))
