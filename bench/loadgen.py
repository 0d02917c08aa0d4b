"""A light HTTP/1.1 load generator: pre-built requests (for a long run, built as they fall due) on keep-alive
sockets, one selector loop, run in a forked process so its CPU time is its own and measurable."""

from __future__ import annotations

import functools
import multiprocessing
import selectors
import socket
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence

from bench.stats import summarize_latencies

perf_counter = time.perf_counter
DRAIN_SECONDS = 5.0


class Conn:
    __slots__ = ("sock", "buf", "scheduled", "started", "in_flight")

    def __init__(self, sock: socket.socket):
        self.sock, self.buf, self.scheduled, self.started, self.in_flight = sock, bytearray(), 0.0, 0.0, False


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _take_response(buf: bytearray) -> tuple[int, bytes, bool] | None:
    """(status, body, keep-alive) once a whole response is buffered, else None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end]).lower()
    length, at = 0, head.find(b"\r\ncontent-length:")
    if at >= 0:
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17:stop if stop >= 0 else len(head)])
    if len(buf) < end + 4 + length:
        return None
    status, body = int(buf[9:12]), bytes(buf[end + 4:end + 4 + length])
    del buf[:end + 4 + length]
    return status, body, b"\r\nconnection: close" not in head


class Engine:
    """Many keep-alive connections, at most one request in flight on each. A server that closes a connection
    (gunicorn's sync worker answers every request with `Connection: close`) gets a new one, counted in
    `reconnects`."""

    def __init__(self, address: tuple[str, int], connections: int):
        self.address = address
        self.selector = selectors.DefaultSelector()
        self.conns = [Conn(_connect(address)) for _ in range(connections)]
        self.reconnects = Counter()
        for conn in self.conns:
            self.selector.register(conn.sock, selectors.EVENT_READ, conn)

    def _reconnect(self, conn: Conn, why: str) -> None:
        self.reconnects[why] += 1
        self.selector.unregister(conn.sock)
        conn.sock.close()
        conn.sock, conn.buf = _connect(self.address), bytearray()
        self.selector.register(conn.sock, selectors.EVENT_READ, conn)

    def send(self, conn: Conn, request: bytes, scheduled: float) -> None:
        conn.scheduled, conn.started, conn.in_flight = scheduled, perf_counter(), True
        try:
            conn.sock.sendall(request)
        except OSError:  # the server closed an idle keep-alive connection: one retry on a new one
            self._reconnect(conn, "closed_idle")
            conn.sock.sendall(request)

    def _read(self, conn: Conn) -> tuple[int, bytes] | None:
        """The answer on `conn` once complete ((0, b"") if the connection died under a request), else None."""
        try:
            chunk = conn.sock.recv(1 << 18)
        except OSError:
            chunk = b""
        if not chunk:
            if not conn.in_flight:  # closed while idle: nothing was lost
                self._reconnect(conn, "closed_idle")
                return None
            conn.in_flight = False
            self._reconnect(conn, "lost_in_flight")
            return 0, b""
        conn.buf += chunk
        response = _take_response(conn.buf)
        if response is None:
            return None
        conn.in_flight = False
        if not response[2]:
            self._reconnect(conn, "closed_after_answer")
        return response[0], response[1]

    def poll(self, timeout: float | None) -> list[tuple[Conn, int, bytes, float]]:
        """Responses completed within `timeout`: (connection, status (0 = connection lost), body, when)."""
        done = []
        for key, _ in self.selector.select(timeout):
            answer = self._read(key.data)
            if answer is not None:
                done.append((key.data, answer[0], answer[1], perf_counter()))
        return done

    def close(self) -> dict[str, int]:
        """Closes every connection; returns the reconnects by cause."""
        for conn in self.conns:
            conn.sock.close()
        self.selector.close()
        return dict(self.reconnects)


def _drain(engine: Engine, busy: int) -> int:
    """Waits for in-flight responses (not counted); returns how many never came."""
    deadline = perf_counter() + DRAIN_SECONDS
    while busy and perf_counter() < deadline:
        busy -= len(engine.poll(deadline - perf_counter()))
    return busy


def fixed_work(address: tuple[str, int], requests: Sequence[bytes], connections: int,
               check: Callable[[bytes], int]) -> dict:
    """Sends every request once over `connections` connections; `check(body)` counts what a 200 achieved."""
    engine = Engine(address, connections)
    pending, statuses, units, busy = iter(requests), Counter(), 0, 0
    start = last = perf_counter()
    for conn in engine.conns:
        request = next(pending, None)
        if request is not None:
            engine.send(conn, request, perf_counter())
            busy += 1
    while busy:
        for conn, status, body, finished in engine.poll(60):
            busy, last = busy - 1, finished
            statuses[status] += 1
            units += check(body) if status == 200 else 0
            request = next(pending, None)
            if request is not None:
                engine.send(conn, request, finished)
                busy += 1
    reconnects = engine.close()
    return {"seconds": last - start, "units": units, "statuses": dict(statuses), "reconnects": reconnects}


def closed_loop(address: tuple[str, int], requests: Sequence[bytes], connections: int, warmup: float,
                duration: float, ok: Callable[[int, bytes], bool]) -> dict:
    """Every connection sends its next request as soon as the previous answer arrives; counts the
    answers that complete within [warmup, warmup + duration]."""
    engine = Engine(address, connections)
    start = perf_counter()
    begin, end = start + warmup, start + warmup + duration
    latencies, statuses, good, sent = [], Counter(), 0, 0
    for conn in engine.conns:
        engine.send(conn, requests[sent % len(requests)], perf_counter())
        sent += 1
    while (now := perf_counter()) < end:
        for conn, status, body, finished in engine.poll(end - now):
            if begin <= finished < end:
                latencies.append(finished - conn.started)
                statuses[status] += 1
                good += ok(status, body)
            engine.send(conn, requests[sent % len(requests)], finished)
            sent += 1
    lost = _drain(engine, len(engine.conns))
    reconnects = engine.close()
    return {"ok_per_s": good / duration, "ok": good, "statuses": dict(statuses), "lost_after_window": lost,
            "reused_requests": sent > len(requests), "latency_ms": summarize_latencies(latencies),
            "sent": sent, "reconnects": reconnects}


def open_loop(address: tuple[str, int], requests: Sequence[bytes], rate: float, connections: int,
              ok: Callable[[int, bytes], bool]) -> dict:
    """Sends request k at start + k / rate whether or not earlier answers came (queued for a free
    connection if none is idle); latency runs from the scheduled time, so queueing counts."""
    engine = Engine(address, connections)
    idle, backlog = list(engine.conns), deque()
    latencies, lags, statuses = [], [], Counter()
    good, k, busy, n = 0, 0, 0, len(requests)
    start = perf_counter() + 0.01
    last = start
    deadline = start + n / rate + DRAIN_SECONDS
    while (k < n or busy) and (now := perf_counter()) < deadline:
        while k < n and start + k / rate <= now:
            if idle:
                engine.send(conn := idle.pop(), requests[k], start + k / rate)
                lags.append(conn.started - conn.scheduled)
                busy += 1
            else:
                backlog.append((requests[k], start + k / rate))
            k += 1
        wait = start + k / rate - now if k < n else deadline - now
        for conn, status, body, finished in engine.poll(max(wait, 0.0)):
            latencies.append(finished - conn.scheduled)
            statuses[status] += 1
            good += ok(status, body)
            last = finished
            if backlog:
                request, scheduled = backlog.popleft()
                engine.send(conn, request, scheduled)
                lags.append(conn.started - conn.scheduled)
            else:
                idle.append(conn)
                busy -= 1
    reconnects = engine.close()
    unanswered = busy + len(backlog) + (n - k)
    return {
        "offered_per_s": rate, "sent": n, "ok": good, "achieved_per_s": good / max(last - start, n / rate),
        "errors": n - good, "unanswered": unanswered, "statuses": dict(statuses),
        "latency_ms": summarize_latencies(latencies), "send_lag_ms": summarize_latencies(lags),
        "reconnects": reconnects,
    }


class _Window:
    """What one window of a long open loop saw, answers counted in the window they came in."""

    __slots__ = ("latencies", "lags", "statuses", "good")

    def __init__(self):
        self.latencies, self.lags, self.statuses, self.good = [], [], Counter(), 0

    def answer(self, latency: float, status: int, good: bool) -> None:
        self.latencies.append(latency)
        self.statuses[status] += 1
        self.good += good

    def figures(self, number: int, seconds: float, backlog: int) -> dict:
        answered = len(self.latencies)
        return {"window": number, "seconds": seconds, "answered": answered, "ok": self.good,
                "achieved_per_s": self.good / seconds, "errors": answered - self.good,
                "statuses": dict(self.statuses), "backlog": backlog,
                "latency_ms": summarize_latencies(self.latencies), "send_lag_ms": summarize_latencies(self.lags)}


def open_loop_windows(address: tuple[str, int], requests: Iterator[bytes], rate: float, connections: int,
                      ok: Callable[[int, bytes], bool], window_seconds: float, windows: int,
                      emit: Callable[[dict], None]) -> dict:
    """open_loop for `windows` windows of `window_seconds` back to back on the same connections, `emit` given each
    window's figures as it ends (the last window's include the drain). Requests are drawn from `requests` as they
    fall due, so a long run never holds them all in memory."""
    engine = Engine(address, connections)
    idle, backlog = list(engine.conns), deque()
    window, ended, good, k, busy = _Window(), 0, 0, 0, 0
    n = round(rate * window_seconds * windows)
    start = perf_counter() + 0.01
    deadline = start + n / rate + DRAIN_SECONDS
    while (k < n or busy) and (now := perf_counter()) < deadline:
        while ended < windows - 1 and now >= start + (ended + 1) * window_seconds:
            emit(window.figures(ended, window_seconds, len(backlog)))
            good, window, ended = good + window.good, _Window(), ended + 1
        while k < n and start + k / rate <= now:
            if idle:
                engine.send(conn := idle.pop(), next(requests), start + k / rate)
                window.lags.append(conn.started - conn.scheduled)
                busy += 1
            else:
                backlog.append((next(requests), start + k / rate))
            k += 1
        boundary = start + (ended + 1) * window_seconds if ended < windows - 1 else deadline
        due = min(start + k / rate if k < n else deadline, boundary)
        for conn, status, body, finished in engine.poll(max(due - now, 0.0)):
            window.answer(finished - conn.scheduled, status, ok(status, body))
            if backlog:
                request, scheduled = backlog.popleft()
                engine.send(conn, request, scheduled)
                window.lags.append(conn.started - conn.scheduled)
            else:
                idle.append(conn)
                busy -= 1
    # the last window ends with the drain: its answers count over the time they took
    emit(window.figures(ended, max(window_seconds, perf_counter() - start - ended * window_seconds), len(backlog)))
    good += window.good
    reconnects = engine.close()
    return {"offered_per_s": rate, "sent": n, "ok": good, "errors": n - good,
            "unanswered": busy + len(backlog) + (n - k), "windows": ended + 1, "reconnects": reconnects}


def _child(pipe, function: Callable, args: tuple) -> None:
    cpu, wall = time.process_time(), perf_counter()
    try:
        result = function(*args)
        result["client_cpu_cores"] = round((time.process_time() - cpu) / (perf_counter() - wall), 3)
        pipe.send(result)
    except BaseException as error:  # the parent re-raises it
        pipe.send(RuntimeError(f"load generator failed: {error!r}"))


class _Report:
    """A driver's report on its way to the parent, told apart from its result."""

    __slots__ = ("figures",)

    def __init__(self, figures: dict):
        self.figures = figures


def _send_report(pipe, figures: dict) -> None:
    pipe.send(_Report(figures))


def _forked(function: Callable, args: tuple, reporting: bool = False) -> tuple[multiprocessing.Process, object]:
    """The driver started in a forked process, and the end of the pipe its result (and reports) come from."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    if reporting:
        args = (*args, functools.partial(_send_report, sender))
    process = context.Process(target=_child, args=(sender, function, args), daemon=True)
    process.start()
    sender.close()
    return process, receiver


def _stopped(process: multiprocessing.Process) -> None:
    process.join(5)
    if process.is_alive():
        process.kill()


def in_child(function: Callable, *args) -> dict:
    """Runs a driver in a forked process (the requests are inherited, not pickled)."""
    process, receiver = _forked(function, args)
    try:
        result = receiver.recv()
    finally:
        _stopped(process)
    if isinstance(result, BaseException):
        raise result
    return result


def in_child_reporting(function: Callable, on_report: Callable[[dict], None], *args) -> dict:
    """in_child for a driver that reports as it goes (open_loop_windows): its last argument hands a report to
    `on_report`, which runs here as each arrives. Interrupted (Ctrl-C) or failing here, the driver is killed at once."""
    process, receiver = _forked(function, args, reporting=True)
    try:
        while isinstance(message := receiver.recv(), _Report):
            on_report(message.figures)
    except BaseException:
        process.kill()
        raise
    finally:
        _stopped(process)
    if isinstance(message, BaseException):
        raise message
    return message
