"""gunicorn settings for the hello-worlds: the API's own (workers, threads, worker connections, keep-alive,
timeouts), without its start-up hook that writes to the database. The worker class is the API's too, read from
MONKEYTOWN_API_WORKER_CLASS, which the benchmark sets to sync, gthread or gevent for each hello-world server."""

from ingest_api.gunicorn_conf import (  # noqa: F401
    bind,
    control_socket_disable,
    graceful_timeout,
    keepalive,
    timeout,
    worker_class,
    worker_connections,
    workers,
)
from ingest_api.gunicorn_conf import threads as api_threads

# gunicorn quietly runs gthread instead of sync when threads > 1
threads = 1 if worker_class == "sync" else api_threads

proc_name = f"monkeytown-bench-hello-{worker_class}"
