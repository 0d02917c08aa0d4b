"""A light WebSocket load generator for GET /api/events/stream: raw sockets, one selector loop, pre-built frames,
run in a forked process (bench.loadgen.in_child) so its CPU time is its own.

Frames go out with a zero mask (RFC 6455 requires a mask, not a random one), so building them costs no XOR."""

from __future__ import annotations

import base64
import os
import selectors
import socket
import struct
import time
from collections import deque
from collections.abc import Sequence

import orjson

from bench.stats import summarize_latencies

perf_counter = time.perf_counter
OPCODE_TEXT, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG = 0x1, 0x8, 0x9, 0xA
HANDSHAKE_SECONDS = 30.0


def text_frame(payload: bytes, opcode: int = OPCODE_TEXT) -> bytes:
    """A final client frame with a zero masking key."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    return head + b"\0\0\0\0" + payload


def take_frames(buf: bytearray) -> list[tuple[int, bytes]]:
    """(opcode, payload) of every whole server frame at the start of `buf`, removed from it."""
    frames = []
    while len(buf) >= 2:
        size, start = buf[1] & 0x7F, 2
        if size == 126:
            if len(buf) < 4:
                break
            size, start = struct.unpack_from("!H", buf, 2)[0], 4
        elif size == 127:
            if len(buf) < 10:
                break
            size, start = struct.unpack_from("!Q", buf, 2)[0], 10
        if len(buf) < start + size:
            break
        frames.append((buf[0] & 0x0F, bytes(buf[start:start + size])))
        del buf[:start + size]
    return frames


class Stream:
    __slots__ = ("sock", "buf", "sent_at", "acks")

    def __init__(self, sock: socket.socket):
        self.sock, self.buf, self.sent_at, self.acks = sock, bytearray(), deque(), 0


def open_stream(address: tuple[str, int], key: str) -> Stream:
    """A connection past the handshake (101), with the key in the Authorization header."""
    sock = socket.create_connection(address, timeout=HANDSHAKE_SECONDS)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    nonce = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /api/events/stream HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n"
                  f"Authorization: Bearer {key}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the server closed the connection during the handshake")
        head += chunk
    status = head.split(b" ", 2)[1]
    if status != b"101":
        raise ConnectionError(f"handshake answered {status.decode()}: {head[:300]!r}")
    stream = Stream(sock)
    stream.buf += head.split(b"\r\n\r\n", 1)[1]
    sock.settimeout(None)
    return stream


def _acks(stream: Stream) -> list[bytes]:
    """The acks (text frames) now buffered; answers pings, fails on a close."""
    acks = []
    for opcode, payload in take_frames(stream.buf):
        if opcode == OPCODE_TEXT:
            acks.append(payload)
        elif opcode == OPCODE_PING:
            stream.sock.sendall(text_frame(payload, OPCODE_PONG))
        elif opcode == OPCODE_CLOSE:
            code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else None
            raise ConnectionError(f"the server closed the stream with {code}: {payload[2:].decode(errors='replace')}")
    return acks


def _read_acks(stream: Stream) -> list[bytes]:
    """What one read from the socket completes."""
    chunk = stream.sock.recv(262144)
    if not chunk:
        raise ConnectionError("the server hung up")
    stream.buf += chunk
    return _acks(stream)


def _events_acked(ack: bytes) -> int:
    body = orjson.loads(ack)
    if "results" in body:
        return body["accepted"] + body["duplicates"]
    return 1 if body.get("status") in ("accepted", "duplicate") else 0


def one_connection(address: tuple[str, int], key: str, messages: Sequence[bytes], window: int,
                   seconds: float) -> dict:
    """Over one connection, up to `window` messages in flight (1: each waits for the previous ack); counts the
    events acknowledged within `seconds`."""
    stream = open_stream(address, key)
    frames = [text_frame(m) for m in messages]
    sent = events = 0
    latencies = []
    start = perf_counter()
    end = start + seconds
    while perf_counter() < end:
        while len(stream.sent_at) < window and sent < len(frames):
            stream.sock.sendall(frames[sent])
            stream.sent_at.append(perf_counter())
            sent += 1
        for ack in _read_acks(stream):
            latencies.append(perf_counter() - stream.sent_at.popleft())
            events += _events_acked(ack)
        if sent == len(frames) and not stream.sent_at:
            break
    elapsed = perf_counter() - start
    stream.sock.close()
    return {"events_per_s": events / elapsed, "events": events, "messages": len(latencies), "seconds": elapsed,
            "ran_out_of_messages": sent == len(frames), "latency_ms": summarize_latencies(latencies)}


def spread_open_loop(address: tuple[str, int], key: str, messages: Sequence[bytes], rate: float,
                     connections: int) -> dict:
    """Message k at start + k / rate on connection k % connections, whether or not acks came; latency runs from
    the scheduled time to its ack."""
    selector = selectors.DefaultSelector()
    streams = [open_stream(address, key) for _ in range(connections)]
    for stream in streams:
        selector.register(stream.sock, selectors.EVENT_READ, stream)
    frames = [text_frame(m) for m in messages]
    latencies, good, k, n = [], 0, 0, len(frames)
    start = perf_counter() + 0.05
    deadline = start + n / rate + 10.0
    while (k < n or any(s.sent_at for s in streams)) and (now := perf_counter()) < deadline:
        while k < n and start + k / rate <= now:
            stream = streams[k % connections]
            stream.sock.sendall(frames[k])
            stream.sent_at.append(start + k / rate)
            k += 1
        wait = start + k / rate - now if k < n else deadline - now
        for key_, _ in selector.select(max(wait, 0.0)):
            stream = key_.data
            for ack in _read_acks(stream):
                latencies.append(perf_counter() - stream.sent_at.popleft())
                good += _events_acked(ack)
    unanswered = sum(len(s.sent_at) for s in streams)
    for stream in streams:
        stream.sock.close()
    return {"offered_per_s": rate, "connections": connections, "sent": k, "acked_events": good,
            "unanswered": unanswered, "latency_ms": summarize_latencies(latencies)}


def hold_idle(address: tuple[str, int], key: str, connections: int, ready, release) -> None:
    """Opens `connections` streams and holds them, answering pings, until `release` is set; `ready` is set once
    all are open. Meant for a child process (multiprocessing events)."""
    selector = selectors.DefaultSelector()
    streams = []
    for _ in range(connections):
        stream = open_stream(address, key)
        selector.register(stream.sock, selectors.EVENT_READ, stream)
        streams.append(stream)
    ready.set()
    while not release.is_set():
        for key_, _ in selector.select(0.2):
            stream = key_.data
            chunk = stream.sock.recv(65536)
            if chunk:
                stream.buf += chunk
                _acks(stream)
    for stream in streams:
        stream.sock.close()
