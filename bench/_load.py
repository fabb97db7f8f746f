"""A small HTTP/1.1 load generator for `wallet_reads.py`: C keep-alive connections, each
sending GET requests one after another for a given time; prints one JSON line with the count,
the errors and the latencies' p50, p90 and p99 in milliseconds.

`python bench/_load.py URL_PATH PORT CONNECTIONS SECONDS TOKEN[,TOKEN...]`: connection i uses
token i mod n (`Authorization: Bearer`). Plain asyncio streams (no HTTP library): the generator
must cost less than the servers it measures, and it costs the same for both.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


async def _one(
    path: str, port: int, token: str, until: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()
    try:
        while time.monotonic() < until:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            chunked = False
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
                elif name.lower() == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            if chunked:
                while True:
                    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            else:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


async def _run(path: str, port: int, connections: int, seconds: float, tokens: list[str]) -> None:
    latencies: list[float] = []
    errors: list[int] = []
    until = time.monotonic() + seconds
    started = time.monotonic()
    await asyncio.gather(
        *(
            _one(path, port, tokens[i % len(tokens)], until, latencies, errors)
            for i in range(connections)
        )
    )
    elapsed = time.monotonic() - started
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    print(
        json.dumps(
            {
                "requests": len(latencies),
                "seconds": elapsed,
                "per_second": len(latencies) / elapsed,
                "errors": len(errors),
                "p50_ms": pct(0.5),
                "p90_ms": pct(0.9),
                "p99_ms": pct(0.99),
            }
        )
    )


if __name__ == "__main__":
    path, port, conns, secs, toks = sys.argv[1:6]
    asyncio.run(_run(path, int(port), int(conns), float(secs), toks.split(",")))
