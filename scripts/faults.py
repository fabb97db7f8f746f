"""A fault-injecting JSON-RPC proxy: stands between the service and a node and misbehaves on
purpose, for the tests and the chaos benchmark (`bench/chaos.py`).

It forwards every JSON-RPC request (single or batch) to `upstream` unchanged, except
`eth_sendRawTransaction`, where the rules in `Faults` apply, in this order:

- `refuse`: answer a JSON-RPC error (`refuse_message`, e.g. "insufficient funds for gas") and
  do not forward;
- `drop`: answer the transaction's hash as if accepted, and do not forward (a lost
  transaction: the node never saw it);
- `front_run`: when the transaction calls `transferWithAuthorization` or
  `redeemWithAuthorization` (EIP-3009: anyone may submit a signed authorization), first send
  the same call (same `to`, same `data`, a higher gas price) signed by an attacker key the
  proxy holds (`front_run_key`, a funded account) straight to the upstream, then forward the
  original, which then reverts on chain (the authorization is used). The attacker's hashes are
  kept in `front_runs`; a rebroadcast of a transaction already front-run is left alone;
- `delay`: wait this many seconds before forwarding (every send, or with `delay_rate` set, a
  share of them);
- `duplicate`: forward it twice (a client or proxy retry).

Counters (`fired`) say how often each fault fired. `refuse`, `drop`, `duplicate` and
`front_run` are counts of the next sends to affect (they go down as they fire) or, with
`*_rate` set, a probability per send drawn from a seeded random generator, so a chaos run is
repeatable. Every field may be changed while the proxy runs.

An upstream that does not answer (a node that is down) is answered with HTTP 502. Loopback
only; one thread per connection (`ThreadingHTTPServer`).
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import httpx
import rlp
from eth_account import Account
from web3 import Web3

from node.anvil import free_port
from node.contract import load_artifact

AUTHORIZATION_CALLS = ("transferWithAuthorization", "redeemWithAuthorization")
"""The relayed EIP-3009 calls the `front_run` fault copies."""


def authorization_selectors() -> set[bytes]:
    """The 4-byte selectors of AUTHORIZATION_CALLS, from the token's ABI."""
    out: set[bytes] = set()
    for item in load_artifact().abi:
        if item.get("type") == "function" and item.get("name") in AUTHORIZATION_CALLS:
            types = ",".join(str(i["type"]) for i in item["inputs"])
            out.add(bytes(Web3.keccak(text=f"{item['name']}({types})"))[:4])
    return out


@dataclass(frozen=True)
class RawTx:
    """What the proxy reads from a signed raw transaction (legacy, EIP-2930 or EIP-1559)."""

    to: bytes
    data: bytes
    gas: int
    gas_price: int


def decode_raw(raw: bytes) -> RawTx:
    """Read `to`, `data`, the gas limit and the (max) gas price of a signed transaction."""
    if raw and raw[0] >= 0xC0:  # legacy: [nonce, gasPrice, gas, to, value, data, v, r, s]
        f = rlp.decode(raw)
        return RawTx(bytes(f[3]), bytes(f[5]), _int(f[2]), _int(f[1]))
    f = rlp.decode(raw[1:])
    if raw[0] == 1:  # [chainId, nonce, gasPrice, gas, to, value, data, accessList, ...]
        return RawTx(bytes(f[4]), bytes(f[6]), _int(f[3]), _int(f[2]))
    # type 2: [chainId, nonce, maxPriorityFee, maxFee, gas, to, value, data, accessList, ...]
    return RawTx(bytes(f[5]), bytes(f[7]), _int(f[4]), _int(f[3]))


def _int(value: object) -> int:
    return int.from_bytes(bytes(value), "big") if isinstance(value, bytes) else 0


@dataclass
class Faults:
    """What the proxy does to the next `eth_sendRawTransaction` calls (module docstring)."""

    refuse: int = 0
    refuse_message: str = "insufficient funds for gas * price + value"
    drop: int = 0
    duplicate: int = 0
    front_run: int = 0
    delay: float = 0.0
    refuse_rate: float = 0.0
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    front_run_rate: float = 0.0
    delay_rate: float = 0.0
    front_run_key: str | None = None
    """Hex private key of the attacker's funded account (needed by `front_run`)."""
    seed: int = 7
    fired: dict[str, int] = field(
        default_factory=lambda: {
            "refuse": 0,
            "drop": 0,
            "duplicate": 0,
            "front_run": 0,
            "delay": 0,
        }
    )
    dropped: list[str] = field(default_factory=list)
    front_runs: list[str] = field(default_factory=list)
    """Hashes of the attacker's transactions (`front_run`)."""
    front_run_errors: list[str] = field(default_factory=list)
    """Why an attacker's transaction could not be sent (the original was forwarded anyway)."""
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def off(self) -> None:
        """No more faults: every count, rate and the delay back to 0 (counters stay)."""
        with self._lock:
            for name in ("refuse", "drop", "duplicate", "front_run"):
                setattr(self, name, 0)
                setattr(self, f"{name}_rate", 0.0)
            self.delay = 0.0
            self.delay_rate = 0.0

    def _delay(self) -> float:
        """Seconds to wait before forwarding this send (0: none)."""
        if self.delay <= 0:
            return 0.0
        with self._lock:
            if self.delay_rate <= 0 or self._random.random() < self.delay_rate:
                self.fired["delay"] += 1
                return self.delay
            return 0.0

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
        self._selectors = authorization_selectors()
        self._attacker_lock = threading.Lock()
        self._chain_id: int | None = None
        self._front_run_done: set[str] = set()  # originals already front-run (rebroadcasts)
        self._attacker_txs: dict[int, tuple[str, str]] = {}  # nonce -> (hash, raw) not yet final
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"null")
                except ValueError:
                    body = None
                try:
                    if isinstance(body, list):
                        answer: Any = [proxy._one(item) for item in body]
                    elif isinstance(body, dict):
                        answer = proxy._one(body)
                    else:  # cut off (the client died while sending) or not JSON-RPC
                        self.send_error(400, "not a JSON-RPC request")
                        return
                    data = json.dumps(answer).encode()
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except httpx.HTTPError:  # the upstream is down: as a reverse proxy says it
                    with contextlib.suppress(OSError):
                        self.send_error(502, "upstream unreachable")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (a killed service): nobody to answer

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _forward(self, request: dict[str, Any]) -> Any:
        r = self._client.post(self.upstream, json=request)
        return r.json()

    def _upstream(self, method: str, params: list[Any]) -> Any:
        """Call `method` on the upstream; raises RuntimeError on a JSON-RPC error."""
        reply = self._forward({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def _front_run(self, raw: bytes) -> None:
        """Send the call of `raw` first, signed by the attacker key, straight upstream."""
        key = self.faults.front_run_key
        assert key is not None
        tx = decode_raw(raw)
        attacker = Account.from_key(key)
        with self._attacker_lock:
            if self._chain_id is None:
                self._chain_id = int(self._upstream("eth_chainId", []), 16)
            nonce = self._attacker_nonce(attacker.address)
            signed = attacker.sign_transaction(
                {
                    "to": Web3.to_checksum_address(tx.to),
                    "data": "0x" + tx.data.hex(),
                    "value": 0,
                    "gas": tx.gas,
                    "gasPrice": tx.gas_price * 2 + 1,  # ahead of the original in the block
                    "nonce": nonce,
                    "chainId": self._chain_id,
                }
            )
            raw_hex = "0x" + bytes(signed.raw_transaction).hex()
            tx_hash = str(self._upstream("eth_sendRawTransaction", [raw_hex]))
            self._attacker_txs[nonce] = (tx_hash, raw_hex)
            self.faults.front_runs.append(tx_hash)

    def _attacker_nonce(self, address: str) -> int:
        """The attacker's next nonce. Its own transactions that a reorganisation took off the
        chain are sent again first (else their nonces would leave a gap that holds every later
        one back), as any sender would."""
        latest = int(self._upstream("eth_getTransactionCount", [address, "latest"]), 16)
        for n in sorted(self._attacker_txs):
            if n < latest:
                del self._attacker_txs[n]
                continue
            tx_hash, raw_hex = self._attacker_txs[n]
            if self._upstream("eth_getTransactionByHash", [tx_hash]) is None:
                with contextlib.suppress(RuntimeError):  # e.g. its nonce was used meanwhile
                    self._upstream("eth_sendRawTransaction", [raw_hex])
        return max([latest, *(n + 1 for n in self._attacker_txs)])

    def _authorization_call(self, raw: bytes) -> bool:
        try:
            return decode_raw(raw).data[:4] in self._selectors
        except Exception:  # not a transaction we can read: never front-run it
            return False

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
        if (
            faults.front_run_key is not None
            and tx_hash not in self._front_run_done
            and self._authorization_call(raw)
            and faults._take("front_run")
        ):
            self._front_run_done.add(tx_hash)
            try:
                self._front_run(raw)
            except Exception as e:  # the attacker failed (e.g. the node refused): forward anyway
                faults.front_run_errors.append(str(e))
        if (wait := faults._delay()) > 0:
            time.sleep(wait)
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
