"""A lean closed-loop HTTP/1.1 load generator for the serving benchmark.

The generator shares the 2 cores with the server it measures, so every microsecond it spends is taken
from the server. A general-purpose client (aiohttp: connection pool, parsed headers, response objects)
does more per request than a benchmark needs; this one sends pre-built request bytes over keep-alive
connections (asyncio protocols on uvloop) and reads only the status line and Content-Length of each
answer.

`clients` connections, each sending its next request as soon as the last answer has fully arrived.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import numpy as np


def requests_for(url: str, bodies: list[bytes], headers: dict[str, str]) -> list[bytes]:
    """The raw HTTP/1.1 POST for each body."""
    parts = urlsplit(url)
    common = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head = f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n{common}"
    return [f"{head}Content-Length: {len(b)}\r\n\r\n".encode() + b for b in bodies]


class _Client(asyncio.Protocol):
    def __init__(self, run: _Run) -> None:
        self.run = run
        self.buffer = b""
        self.expected: int | None = None
        self.status = 0
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._send()

    def _send(self) -> None:
        if time.perf_counter() >= self.run.deadline:
            self.transport.close()
            return
        self.started = time.perf_counter()
        self.transport.write(self.run.next_request())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.expected is None:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                self.status, length = _head(self.buffer[:end])
                self.expected = end + 4 + length
            if len(self.buffer) < self.expected:
                return
            self.buffer = self.buffer[self.expected :]
            self.expected = None
            self.run.record(time.perf_counter() - self.started, self.status)
            self._send()

    def connection_lost(self, exc) -> None:
        if time.perf_counter() < self.run.deadline:
            self.run.record(time.perf_counter() - self.started, f"connection lost: {exc}")
        if not self.done.done():
            self.done.set_result(None)


def _head(head: bytes) -> tuple[int, int]:
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return status, int(value)
    raise RuntimeError("the server answered without Content-Length; this generator reads only sized bodies")


class _Run:
    def __init__(self, requests: list[bytes], seconds: float) -> None:
        self.requests = requests
        self.sent = 0
        self.deadline = time.perf_counter() + seconds
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}

    def next_request(self) -> bytes:
        self.sent += 1
        return self.requests[self.sent % len(self.requests)]

    def record(self, seconds: float, status) -> None:
        self.latencies.append(seconds)
        if status != 200:
            self.errors[str(status)] = self.errors.get(str(status), 0) + 1


async def _load(url: str, requests: list[bytes], clients: int, seconds: float) -> dict:
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    run = _Run(requests, seconds)
    began = time.perf_counter()
    connections = [
        await loop.create_connection(lambda: _Client(run), parts.hostname, parts.port) for _ in range(clients)
    ]
    await asyncio.gather(*(protocol.done for _, protocol in connections))
    out = summary(run.latencies, time.perf_counter() - began, run.errors, clients)
    return out | {"repeated_bodies": max(0, run.sent - len(requests))}  # requests that reused a body


def summary(latencies: list[float], elapsed: float, errors: dict, clients: int) -> dict:
    ms = np.asarray(latencies) * 1000
    return {
        "clients": clients,
        "requests": len(latencies),
        "req_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "errors": errors,
    }


def load(url: str, bodies: list[bytes], headers: dict[str, str], clients: int, seconds: float) -> dict:
    """Closed-loop load: req/s, p50/p99 latency and errors by status over `seconds`."""
    import uvloop

    return uvloop.run(_load(url, requests_for(url, bodies, headers), clients, seconds))
