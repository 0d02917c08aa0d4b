"""A real S3 API for the archive's tests: moto's server as a process over HTTP, and a small HTTP proxy in front of
it that injects faults at the server's side of the wire (a 500, a dropped connection, an answer lost after the
write landed) while the client under test stays the real boto3 one."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import boto3

READY_SECONDS = 30
UPSTREAM_TIMEOUT_SECONDS = 10
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection"}
INJECTED_ERROR = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
                  b"<Message>fault injected by the test proxy</Message></Error>")
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
          "AWS_CONFIG_FILE": "/nonexistent/aws-config", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-creds"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto's server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1):
                return
        except OSError:
            time.sleep(0.1)  # polling a starting server, bounded by the deadline
    raise RuntimeError(f"moto's server did not answer within {READY_SECONDS}s: {log.read_text()[-2000:]}")


@contextmanager
def moto_server(log_dir: Path) -> Iterator[str]:
    """moto's S3 server on a free port of 127.0.0.1; yields its endpoint URL; stopped on exit."""
    port = free_port()
    log = log_dir / "moto_server.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=output, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_ready(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@cache
def admin_client(endpoint_url: str):
    """A client of the test's own, behind the archive's back (to make buckets, or to damage an object)."""
    return boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def new_bucket(endpoint_url: str) -> str:
    """A fresh bucket, so each test sees an empty store."""
    name = f"archive-{uuid.uuid4().hex[:12]}"
    admin_client(endpoint_url).create_bucket(Bucket=name)
    return name


@dataclass
class Fault:
    """Requests of `method` whose path ends with `path_suffix` meet `mode`: "error" (a 500, not forwarded),
    "drop" (the connection closed without an answer, not forwarded) or "lost_answer" (forwarded, so the write
    lands, then a 500). `times`: how many such requests; None: every one while armed."""

    method: str
    path_suffix: str
    mode: str
    times: int | None = None
    hits: int = 0


class FaultProxy:
    """An HTTP proxy to moto's server that injects the armed Fault."""

    def __init__(self, upstream_url: str):
        self.upstream = urlsplit(upstream_url)
        self.fault: Fault | None = None
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="s3-fault-proxy", daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)

    def arm(self, fault: Fault) -> Fault:
        with self._lock:
            self.fault = fault
        return fault

    def disarm(self) -> None:
        with self._lock:
            self.fault = None

    def take(self, method: str, path: str) -> str | None:
        """The fault mode this request meets, if any."""
        with self._lock:
            fault = self.fault
            if fault is None or method != fault.method or not urlsplit(path).path.endswith(fault.path_suffix):
                return None
            if fault.times is not None and fault.hits >= fault.times:
                return None
            fault.hits += 1
            return fault.mode

    def forward(self, method: str, path: str, headers: dict, body: bytes) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port,
                                                timeout=UPSTREAM_TIMEOUT_SECONDS)
        connection.request(method, path, body=body or None, headers=headers)
        return connection.getresponse()


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, and "Expect: 100-continue" answered as botocore expects

        def log_message(self, *args) -> None:  # quiet: the tests' output is the assertions
            pass

        def relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            mode = proxy.take(self.command, self.path)
            if mode == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if mode == "error":
                self.answer(500, {"Content-Type": "application/xml"}, INJECTED_ERROR)
                return
            headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
            response = proxy.forward(self.command, self.path, headers, body)
            content = response.read()
            if mode == "lost_answer":
                self.answer(500, {"Content-Type": "application/xml"}, INJECTED_ERROR)
                return
            self.answer(response.status, dict(response.getheaders()), content)

        def answer(self, status: int, headers: dict, content: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in HOP_BY_HOP and not (name.lower() == "content-length" and self.command != "HEAD"):
                    self.send_header(name, value)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(content)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = relay

    return Handler
