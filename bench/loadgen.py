"""A small HTTP/1.1 load generator, run in its own process so it never shares an event loop with
the service under test.

Requests come pre-built from a JSON-lines file (method, path, headers, body), so signing and
serialising cost nothing inside the timed loop. Two modes:
  closed loop  --connections N            as fast as N keep-alive connections allow (throughput)
  open loop    --rate R                   R requests/s on a fixed schedule; latency is measured
                                          from the scheduled send time, so a stalled server is
                                          not hidden (no coordinated omission)
Prints one JSON object: counts, status codes, requests/s and latency percentiles in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

RAMP_SECONDS = 0.02


@dataclass(frozen=True)
class Prepared:
    raw: bytes


def prepare(lines: list[str], host: str) -> list[Prepared]:
    prepared = []
    for line in lines:
        item = json.loads(line)
        body = item.get("body", "").encode()
        headers = {"Host": host, "Content-Length": str(len(body)), **item.get("headers", {})}
        head = f"{item['method']} {item['path']} HTTP/1.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        prepared.append(Prepared(head.encode() + body))
    return prepared


async def read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("server closed the connection")
    status = int(status_line.split(b" ", 2)[1])
    length = 0
    chunked = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value.strip())
        elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readline()).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


class Results:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors = 0

    async def exchange(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        item: Prepared,
        since: float,
    ) -> bool:
        """Send one request and read its answer; latency counts from `since`. False (and the
        connection closed) when the exchange failed."""
        writer.write(item.raw)
        try:
            status = await read_response(reader)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            self.errors += 1
            writer.close()
            return False
        self.latencies.append(time.perf_counter() - since)
        self.statuses[status] += 1
        return True

    def summary(self, elapsed: float) -> dict[str, object]:
        ordered = sorted(self.latencies)

        def pct(p: float) -> float | None:
            if not ordered:
                return None
            return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)

        return {
            "requests": len(ordered),
            "errors": self.errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "seconds": round(elapsed, 2),
            "rps": round(len(ordered) / elapsed, 1) if elapsed else 0.0,
            "p50_ms": pct(0.50),
            "p90_ms": pct(0.90),
            "p99_ms": pct(0.99),
            "max_ms": pct(1.0),
            # This process's own CPU: near `seconds` would mean the client, not the server,
            # set the pace.
            "client_cpu_s": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 2),
        }


class Feed:
    """Hands out each prepared request once; running out ends the run early."""

    def __init__(self, requests: list[Prepared]) -> None:
        self._requests = requests
        self._next = 0

    def take(self) -> Prepared | None:
        if self._next >= len(self._requests):
            return None
        item = self._requests[self._next]
        self._next += 1
        return item


async def closed_loop(
    host: str, port: int, feed: Feed, connections: int, duration: float, results: Results
) -> float:
    deadline = time.perf_counter() + duration

    async def worker(index: int) -> None:
        # Connections open one after another, as a balancer's do, not as one burst: with
        # several uvicorn workers sharing the listening socket, a burst is accepted whole by
        # whichever worker wakes first and the others sit idle for the entire run.
        await asyncio.sleep(index * RAMP_SECONDS)
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                item = feed.take()
                if item is None:
                    return
                if not await results.exchange(reader, writer, item, time.perf_counter()):
                    reader, writer = await asyncio.open_connection(host, port)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(index) for index in range(connections)))
    return time.perf_counter() - started


async def open_loop(
    host: str, port: int, feed: Feed, rate: float, duration: float, results: Results
) -> float:
    # A pool of idle connections; each scheduled request borrows one (or opens a new one).
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    in_flight: set[asyncio.Task[None]] = set()

    async def send(item: Prepared, scheduled: float) -> None:
        conn = idle.pop() if idle else await asyncio.open_connection(host, port)
        if await results.exchange(*conn, item, scheduled):
            idle.append(conn)

    interval = 1.0 / rate
    started = time.perf_counter()
    count = int(rate * duration)
    for index in range(count):
        scheduled = started + index * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        item = feed.take()
        if item is None:
            break
        task = asyncio.create_task(send(item, scheduled))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(in_flight, timeout=30)
    for _, writer in idle:
        writer.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT")
    parser.add_argument("--requests", type=Path, required=True, help="JSON lines file")
    parser.add_argument("--duration", type=float, default=10.0)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--connections", type=int)
    mode.add_argument("--rate", type=float)
    args = parser.parse_args()
    host_port = args.url.removeprefix("http://").rstrip("/")
    host, _, port = host_port.partition(":")
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("load is only ever sent to this machine (127.0.0.1 / localhost)")
    feed = Feed(prepare(args.requests.read_text().splitlines(), host_port))
    results = Results()
    if args.connections:
        run = closed_loop(host, int(port), feed, args.connections, args.duration, results)
    else:
        run = open_loop(host, int(port), feed, args.rate, args.duration, results)
    elapsed = asyncio.run(run)
    print(json.dumps(results.summary(elapsed)))


if __name__ == "__main__":
    main()
