"""A fault-injecting JSON-RPC proxy: stands between the service and a node and misbehaves on
purpose, for the tests and the chaos benchmark (`bench/chaos.py`).

It forwards every JSON-RPC request (single or batch) to `upstream` unchanged, except
`eth_sendRawTransaction`, where the rules in `Faults` apply, in this order:

- `refuse`: answer a JSON-RPC error (`refuse_message`, e.g. "insufficient funds for gas") and
  do not forward;
- `drop`: answer the transaction's hash as if accepted, and do not forward (a lost
  transaction: the node never saw it);
- `duplicate`: forward it twice (a client or proxy retry);
- `delay`: wait this many seconds before forwarding.

Counters say how often each fault fired. `refuse`, `drop` and `duplicate` are counts of the
next sends to affect (they go down as they fire) or, with `*_rate` set, a probability per send
drawn from a seeded random generator, so a chaos run is repeatable.

Loopback only; one thread per connection (`ThreadingHTTPServer`).
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import httpx
from web3 import Web3

from node.anvil import free_port


@dataclass
class Faults:
    """What the proxy does to the next `eth_sendRawTransaction` calls (module docstring)."""

    refuse: int = 0
    refuse_message: str = "insufficient funds for gas * price + value"
    drop: int = 0
    duplicate: int = 0
    delay: float = 0.0
    refuse_rate: float = 0.0
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    seed: int = 7
    fired: dict[str, int] = field(default_factory=lambda: {"refuse": 0, "drop": 0, "duplicate": 0})
    dropped: list[str] = field(default_factory=list)
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def _take(self, name: str) -> bool:
        with self._lock:
            left = getattr(self, name)
            if left > 0:
                setattr(self, name, left - 1)
                self.fired[name] += 1
                return True
            if self._random.random() < getattr(self, f"{name}_rate"):
                self.fired[name] += 1
                return True
            return False


class FaultProxy:
    """The proxy on 127.0.0.1:`port` in front of `upstream`; use as a context manager or call
    `start()`/`stop()`. `url` is what the service should use as its RPC URL."""

    def __init__(self, upstream: str, faults: Faults | None = None, port: int = 0) -> None:
        self.upstream = upstream
        self.faults = faults or Faults()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests = 0
        self._client = httpx.Client(timeout=60)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                if isinstance(body, list):
                    answer: Any = [proxy._one(item) for item in body]
                else:
                    answer = proxy._one(body)
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _forward(self, request: dict[str, Any]) -> Any:
        r = self._client.post(self.upstream, json=request)
        return r.json()

    def _one(self, request: dict[str, Any]) -> Any:
        self.requests += 1
        if request.get("method") != "eth_sendRawTransaction":
            return self._forward(request)
        faults = self.faults
        raw = bytes.fromhex(str(request["params"][0]).removeprefix("0x"))
        tx_hash = "0x" + bytes(Web3.keccak(raw)).hex()
        if faults._take("refuse"):
            error = {"code": -32003, "message": faults.refuse_message}
            return {"jsonrpc": "2.0", "id": request.get("id"), "error": error}
        if faults._take("drop"):
            faults.dropped.append(tx_hash)
            return {"jsonrpc": "2.0", "id": request.get("id"), "result": tx_hash}
        if faults.delay:
            time.sleep(faults.delay)
        answer = self._forward(request)
        if faults._take("duplicate"):
            self._forward(request)
        return answer

    def start(self) -> FaultProxy:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
