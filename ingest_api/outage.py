"""An outage of the database as the API lives through it: requests answer 503 at once until a probe gets an answer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from psycopg_pool import ConnectionPool, PoolClosed

from ingest_api.pool import UNAVAILABLE_ERRORS, DatabaseUnavailable, connection

#: During an outage, a probe tries the database this often, each try bounded by this much: service resumes within
#: about two seconds of the database answering again.
PROBE_INTERVAL_SECONDS = 0.5
PROBE_DEADLINE_SECONDS = 1.0

log = logging.getLogger("monkeytown.api")


class Outage:
    """Once a request has spent its whole deadline waiting on the database, requests answer 503 at once until a
    background probe gets an answer again: none holds a worker thread for the whole deadline meanwhile, so none
    queued behind such threads misses the bound either."""

    def __init__(self, pool: ConnectionPool):
        self._pool = pool
        self._starting = threading.Lock()
        self.failing = False

    @contextmanager
    def attempt(self, deadline: float) -> Iterator[None]:
        """Runs the block, unless an outage is under way."""
        if self.failing:
            raise DatabaseUnavailable("the database did not answer in time; waiting for it to answer again")
        try:
            yield
        except (*UNAVAILABLE_ERRORS, DatabaseUnavailable):
            if time.monotonic() >= deadline:  # a connection the server closed is no outage; the next one may work
                self._begin()
            raise

    def _begin(self) -> None:
        with self._starting:
            if self.failing:
                return
            self.failing = True
        threading.Thread(target=self._probe, name="monkeytown-db-probe", daemon=True).start()

    def _probe(self) -> None:
        while self.failing and not self._pool.closed:
            time.sleep(PROBE_INTERVAL_SECONDS)
            self.failing = not self._answers()

    def _answers(self) -> bool:
        try:
            with connection(self._pool, time.monotonic() + PROBE_DEADLINE_SECONDS):
                return True
        except (*UNAVAILABLE_ERRORS, PoolClosed):
            return False
        except Exception:  # the probe must outlive anything, or the outage would never end
            log.exception("the database probe failed")
            return False
