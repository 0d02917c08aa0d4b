"""gunicorn settings for `monkeytown up`: gevent workers, so that a WebSocket held open costs a greenlet, not a
thread (MONKEYTOWN_API_WORKER_CLASS=gthread gives threaded workers; group commit needs concurrent requests either way).

Nothing imported here may import prometheus_client: it picks in-memory or per-process-file values once, when first
imported, and the master must set PROMETHEUS_MULTIPROC_DIR first (on_starting), so that every worker forked from it
writes its metrics where GET /metrics sums them. (Other processes import this module for its settings alone.)
"""

import atexit
import gc
import logging
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

worker_class = os.environ.get("MONKEYTOWN_API_WORKER_CLASS", "gevent")
if worker_class == "gevent" and "gunicorn.arbiter" in sys.modules:  # in gunicorn, not a process reading settings
    from gevent import monkey

    # now, before psycopg is imported below: it picks its wait functions and selector once, at import, and the
    # workers inherit them; unpatched ones would block every greenlet of a worker while the database is slow
    monkey.patch_all()

from ingest_api.rate_limit import counted_where, share_counters_across_workers  # noqa: E402 - after the wait function is chosen
from ingest_api.server_lifecycle import MasterLife, record_start, record_stop, record_worker_death  # noqa: E402
from monkeytown.database import running_database_url  # noqa: E402
from monkeytown.settings import load_settings  # noqa: E402

_settings = load_settings()
share_counters_across_workers()  # here, in the master, so every forked worker counts in the same windows
bind = f"{_settings.api_host}:{_settings.api_port}"
workers = int(os.environ.get("MONKEYTOWN_API_WORKERS", "2"))
threads = int(os.environ.get("MONKEYTOWN_API_THREADS", "16"))
# open connections per gevent worker: 1,000 WebSockets may all land on one worker
worker_connections = int(os.environ.get("MONKEYTOWN_API_WORKER_CONNECTIONS", "2000"))
keepalive = 30
graceful_timeout = 10
timeout = 60
accesslog = None  # ingest_api.request_log writes one line per request
proc_name = "monkeytown-api"
# a control socket in ~/.gunicorn would be shared (and fought over) by every instance on the machine
control_socket_disable = True

_own_metrics_dir: Path | None = None


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def on_starting(server):
    """A metrics directory wiped at start: a previous run's files would add to the counts. Unless
    PROMETHEUS_MULTIPROC_DIR is given, one of this master's own under MONKEYTOWN_HOME (named by its pid), so that
    several servers (tests, the benchmark) never share or wipe each other's; those of dead masters go too."""
    global _own_metrics_dir
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set: each worker "
                           "would count in memory, and /metrics would show one worker's numbers")
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return
    root = _settings.home / "api-metrics"
    for other in root.glob("*"):
        if not (other.name.isdigit() and _is_running(int(other.name))):
            shutil.rmtree(other, ignore_errors=True)
    _own_metrics_dir = root / str(os.getpid())
    shutil.rmtree(_own_metrics_dir, ignore_errors=True)
    _own_metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_own_metrics_dir)
    master = os.getpid()
    # at any exit of the master, a failed start included (on_exit runs only after a clean one); not in the workers,
    # which inherit the handler
    atexit.register(lambda: os.getpid() == master and shutil.rmtree(_own_metrics_dir, ignore_errors=True))


def post_worker_init(worker):
    # the app's long-lived objects are never garbage: keep the collector from rescanning them under load
    gc.freeze()
    _close_streams_on_exit(worker)


def _close_streams_on_exit(worker):
    """At SIGTERM the worker stops accepting and waits for its requests, which an open WebSocket never ends: close
    each with 1001 (going away) so its client reconnects elsewhere at once, not after the graceful timeout."""
    from ingest_api.stream import OPEN_STREAMS

    stop = worker.handle_exit

    def handle_exit(sig, frame):
        stop(sig, frame)
        # off the signal handler, which gevent runs in its hub, where nothing may block (not even a thread's start)
        if worker_class == "gevent":
            import gevent

            gevent.spawn(OPEN_STREAMS.close_all)
        else:
            threading.Thread(target=OPEN_STREAMS.close_all, daemon=True).start()

    signal.signal(signal.SIGTERM, handle_exit)


_master = MasterLife()
#: At a worker's exit, how long its last error events may take to land.
ERROR_EVENTS_FLUSH_SECONDS = 2


def when_ready(server):
    from ingest_api.openapi import package_version  # imports prometheus_client (via the pool): after on_starting

    _master.remember_stop_signals()
    server.log.info("rate limit %s per write key, counted %s", _settings.rate_limit, counted_where(_settings.redis_url))
    record_start(running_database_url(_settings), _settings, package_version(), workers)


def on_exit(server):
    from ingest_api.openapi import package_version

    record_stop(_settings, package_version(), _master.stop_reason())


def worker_exit(server, worker):
    error_events = getattr(worker.wsgi, "extensions", {}).get("monkeytown.error_events")
    if error_events is not None and not error_events.flush(ERROR_EVENTS_FLUSH_SECONDS):
        logging.getLogger("monkeytown.api").warning("error events not landed at the worker's exit")


def child_exit(server, worker):
    from prometheus_client import multiprocess

    # the dead worker's live gauges leave the sums; its counters and histograms stay, so totals never go back
    multiprocess.mark_process_dead(worker.pid)
    if (recent_deaths := _master.worker_died(server, worker)) is not None:
        record_worker_death(_settings, worker, recent_deaths)
