"""gunicorn settings for the hello-world: the API's own (workers, threads, worker class, timeouts), without
its start-up hook that writes to the database."""

from ingest_api.gunicorn_conf import (  # noqa: F401
    bind,
    control_socket_disable,
    graceful_timeout,
    keepalive,
    threads,
    timeout,
    worker_class,
    workers,
)

proc_name = "monkeytown-bench-hello"
