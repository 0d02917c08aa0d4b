"""The platform's processes in the foreground (`monkeytown up`, the benchmarks): each in its own process group, ended
with its parent; Ctrl-C stops every one of them."""

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
from dataclasses import dataclass
from pathlib import Path

from monkeytown.settings import SettingsError

_PR_SET_PDEATHSIG = 1


class ChildFailed(RuntimeError):
    """A child process exited during start-up or never became ready; the message says which, in one line."""


def die_with_parent() -> None:
    """For preexec_fn: a child outlives a parent killed with SIGKILL unless the kernel is told to end it."""
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


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    essential: bool  # the platform stops when an essential child exits on its own


class Supervisor:
    def __init__(self):
        self.children: list[Child] = []
        self.stopping = threading.Event()

    def spawn(self, name: str, argv: list[str], env: dict, essential: bool = True,
              output: Path | None = None) -> Child:
        """Starts a child in its own process group; `output` appends its stdout and stderr to that file
        instead of the console."""
        sink = open(output, "ab") if output else None  # noqa: SIM115 (the child keeps it; closed below)
        try:
            process = subprocess.Popen(argv, env=env, start_new_session=True, preexec_fn=die_with_parent,
                                       stdout=sink, stderr=subprocess.STDOUT if sink else None)
        finally:
            if sink:
                sink.close()
        child = Child(name, process, essential)
        self.children.append(child)
        return child

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda *_: self.stopping.set())

    def first_exited(self) -> Child | None:
        return next((c for c in self.children if c.process.poll() is not None), None)

    def wait(self) -> Child | None:
        """Until a stop signal (None) or until an essential child exits on its own (that child)."""
        while not self.stopping.wait(0.2):
            exited = self.first_exited()
            if exited and exited.essential:
                return exited
            if exited:
                print(f"monkeytown: the {exited.name} process exited (code {exited.process.returncode}); "
                      "the rest keeps running", file=sys.stderr, flush=True)
                self.children.remove(exited)
        return None

    def stop_all(self, grace_seconds: float = 15) -> None:
        """SIGTERM to each child's process group, newest first, then SIGKILL to whatever of the group is
        left after the grace period (each child leads its own group, so its own children go too)."""
        for child in reversed(self.children):
            _signal_group(child.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(grace_seconds)
            _signal_group(child.process.pid, signal.SIGKILL)
            child.process.wait()
        self.children.clear()


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
