"""`python -m bench.hello_granian HOST PORT`: the hello-world (bench/hello_app.py) under granian's WSGI server
(`granian --interface wsgi`) at the API's worker count, read from the API's gunicorn settings here, in the
server's own process, which then becomes granian (exec: the same pid)."""

from __future__ import annotations

import os
import sys
from importlib.metadata import PackageNotFoundError, version


def granian_version() -> str | None:
    """The installed granian (the `test` extra brings it), or None."""
    try:
        return version("granian")
    except PackageNotFoundError:
        return None


def granian_args(host: str, port: int, workers: int) -> list[str]:
    """`python -m granian` arguments; otherwise granian's defaults (blocking threads: backpressure / 2)."""
    return ["--interface", "wsgi", "--host", host, "--port", str(port), "--workers", str(workers),
            # features the benchmark never uses: HTTP/2 detection and WebSocket upgrades
            "--http", "1", "--no-ws", "bench.hello_app:app"]


def main(argv: list[str]) -> None:
    # imported here, never in the benchmark's own process: the settings module sets up state for a gunicorn master
    from ingest_api.gunicorn_conf import workers

    host, port = argv
    os.execv(sys.executable, [sys.executable, "-m", "granian", *granian_args(host, int(port), workers)])


if __name__ == "__main__":
    main(sys.argv[1:])
