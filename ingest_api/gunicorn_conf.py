"""gunicorn settings for `monkeytown up`: threaded workers (group commit needs concurrent requests).

Nothing imported here may import prometheus_client: it picks in-memory or per-process-file values once, when first
imported, and the master must set PROMETHEUS_MULTIPROC_DIR first (on_starting), so that every worker forked from it
writes its metrics where GET /metrics sums them. (Other processes import this module for its settings alone.)
"""

import atexit
import gc
import logging
import os
import shutil
import sys
from pathlib import Path

from ingest_api.rate_limit import share_counters_across_workers
from ingest_api.system_events import record_server_start
from monkeytown.database import running_database_url
from monkeytown.settings import load_settings

_settings = load_settings()
share_counters_across_workers()  # here, in the master, so every forked worker counts in the same windows
bind = f"{_settings.api_host}:{_settings.api_port}"
workers = int(os.environ.get("MONKEYTOWN_API_WORKERS", "2"))
threads = int(os.environ.get("MONKEYTOWN_API_THREADS", "16"))
worker_class = "gthread"
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


def when_ready(server):
    from ingest_api.openapi import package_version  # imports prometheus_client (via the pool): after on_starting

    row = record_server_start(running_database_url(_settings), package_version(), workers)
    logging.getLogger("monkeytown.api").info("recorded server_start %s", row.event_id)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    # the dead worker's live gauges leave the sums; its counters and histograms stay, so totals never go back
    multiprocess.mark_process_dead(worker.pid)
