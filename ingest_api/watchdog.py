"""The watchdog: abandons a database connection still busy at its deadline, which a stopped or unreachable server
(whose kernel keeps acknowledging TCP) would otherwise hold for ever."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

#: How late past its deadline the watchdog may abandon a connection.
WATCHDOG_TICK_SECONDS = 0.1


@dataclass(eq=False)
class _Watch:
    deadline: float
    socket_fd: int  # a duplicate: the socket stays the connection's even if libpq closes its own descriptor
    abandoned: bool = False


class Watchdog:
    """Shuts down the socket of a connection still busy at its deadline: the call waiting on it fails at once
    with an OperationalError and the pool drops the connection. One thread per process, looking every tick (a
    wake-up per commit instead would cost the fast path a thread switch each time)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._watches: set[_Watch] = set()
        self._thread: threading.Thread | None = None

    @contextmanager
    def guard(self, conn: psycopg.Connection, deadline: float) -> Iterator[psycopg.Connection]:
        watch = self._watch(conn, deadline)
        try:
            yield conn
        finally:
            self._unwatch(watch)
            if watch.abandoned:
                conn.close()  # abandoned just as it finished: its socket is dead, so it must not be reused

    def _watch(self, conn: psycopg.Connection, deadline: float) -> _Watch:
        watch = _Watch(deadline, os.dup(conn.pgconn.socket))
        with self._lock:
            if self._thread is None or not self._thread.is_alive():  # first use, or a forked worker
                self._thread = threading.Thread(target=self._run, name="monkeytown-db-watchdog", daemon=True)
                self._thread.start()
            self._watches.add(watch)
        return watch

    def _unwatch(self, watch: _Watch) -> None:
        with self._lock:
            if watch in self._watches:
                self._watches.discard(watch)
                os.close(watch.socket_fd)

    def _run(self) -> None:
        while True:
            time.sleep(WATCHDOG_TICK_SECONDS)
            now = time.monotonic()
            with self._lock:
                for watch in [w for w in self._watches if w.deadline <= now]:
                    self._abandon(watch)

    def _abandon(self, watch: _Watch) -> None:
        self._watches.discard(watch)
        watch.abandoned = True
        # closing this socket closes the duplicate, not the connection's own; the peer may have closed it already
        with contextlib.suppress(OSError), socket.socket(fileno=watch.socket_fd) as sock:
            sock.shutdown(socket.SHUT_RDWR)


WATCHDOG = Watchdog()
