"""gunicorn settings for `monkeytown up`: threaded workers (group commit needs concurrent requests)."""

import gc
import logging
import os

from ingest_api.openapi import package_version
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


def post_worker_init(worker):
    # the app's long-lived objects are never garbage: keep the collector from rescanning them under load
    gc.freeze()


def when_ready(server):
    row = record_server_start(running_database_url(_settings), package_version(), workers)
    logging.getLogger("monkeytown.api").info("recorded server_start %s", row.event_id)
