"""Fetch raw token logs and block headers over standard JSON-RPC.

Methods used: `eth_chainId`, `eth_blockNumber`, `eth_getLogs` (filtered by the token address)
and `eth_getBlockByNumber(n, false)`; headers go out as JSON-RPC 2.0 batches of at most
`rpc_batch_limit` calls (geth's default limit is 1,000). Replies stay raw JSON (hex strings),
exactly what `indexer.decoder` takes, so recorded replies and live ones go through the same
code. Nothing here needs a client extension or web3 formatting (so PoA `extraData` is no
concern). Over HTTP the fetcher posts with its own session (so an `eth_getLogs` call has its own
timeout); other providers are used through web3's `make_request`.

**Adaptive block ranges** (as graph-node and Ponder do): `next_logs` asks for `span` blocks,
starting at one block. A reply with fewer logs than `log_target` lets the next range grow (at
most doubling, up to `batch_size` blocks); a reply with more shrinks it in proportion, so a call
returns about `log_target` logs whatever the chain's density, and the memory a call needs is
bounded by a log count, not a block count. A range the node refuses (a JSON-RPC error such as
geth's and anvil's "query returned more than 10000 results", a response-size or range limit) or
does not answer within `logs_timeout` seconds is halved and asked again, and the refused size
becomes a ceiling that lifts again after `CEILING_SUCCESSES` good replies. A single block the
node refuses raises `ChainUnavailable`; so does a node that cannot be reached (no halving).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import requests
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.providers.rpc import HTTPProvider
from web3.types import RPCEndpoint

from indexer.decoder import RawBlock, RawLog, hex_int
from indexer.errors import ChainUnavailable, RangeRefused

DEFAULT_BATCH_SIZE = 2_000
"""Most blocks per `eth_getLogs` call."""

DEFAULT_LOG_TARGET = 2_500
"""Logs per `eth_getLogs` reply the range size aims at."""

DEFAULT_LOGS_TIMEOUT = 20.0
"""Seconds an `eth_getLogs` call may take before its range is halved."""

DEFAULT_RPC_BATCH_LIMIT = 500
"""Calls per JSON-RPC batch request."""

CEILING_SUCCESSES = 8
"""Good replies after which a range size the node refused may be tried again."""

_TIMEOUT = 30.0  # seconds, other calls over HTTP


@dataclass(frozen=True)
class FetchedRange:
    """Raw logs of blocks `from_block..to_block` (inclusive) and the raw headers asked for:
    every block with a log, `to_block`, and any extra numbers (None where the node has none)."""

    from_block: int
    to_block: int
    logs: list[RawLog]
    blocks: dict[int, RawBlock | None] = field(default_factory=dict)


class Fetcher:
    """Reads the token's logs from one node; `batch_size` bounds the blocks per `eth_getLogs`,
    `log_target` steers the range size (module docstring).

    `next_logs` / `logs` may run in one thread while `blocks` / `block_number` run in another
    (each has its own HTTP session); two `next_logs` at once may not.

    Raises `ChainUnavailable` when the node cannot be reached or answers an error (a range the
    node refuses is halved first, down to single blocks).
    """

    def __init__(
        self,
        w3: Web3,
        token: ChecksumAddress,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        rpc_batch_limit: int = DEFAULT_RPC_BATCH_LIMIT,
        log_target: int = DEFAULT_LOG_TARGET,
        logs_timeout: float = DEFAULT_LOGS_TIMEOUT,
    ) -> None:
        if batch_size < 1 or rpc_batch_limit < 1 or log_target < 1 or logs_timeout <= 0:
            raise ValueError(
                "batch_size, rpc_batch_limit and log_target must be at least 1, "
                "logs_timeout positive"
            )
        self.w3 = w3
        self.token = token
        self.batch_size = batch_size
        self.rpc_batch_limit = rpc_batch_limit
        self.log_target = log_target
        self.logs_timeout = logs_timeout
        self.span = 1
        """Blocks the next `next_logs` call asks for."""
        self.ceiling = batch_size
        """Largest span to try now (lowered by a refusal, lifted after good replies)."""
        self.refusals = 0
        """Ranges refused so far (for logs and tests)."""
        self._good = 0
        provider = w3.provider
        self._url: str | None = None
        self._session: requests.Session | None = None
        self._logs_session: requests.Session | None = None
        self._timeout = _TIMEOUT
        if isinstance(provider, HTTPProvider):
            self._url = str(provider.endpoint_uri)
            self._session = requests.Session()
            self._session.headers.update({"Content-Type": "application/json"})
            self._logs_session = requests.Session()
            self._logs_session.headers.update({"Content-Type": "application/json"})
            timeout = dict(provider.get_request_kwargs()).get("timeout")
            if isinstance(timeout, int | float):
                self._timeout = float(timeout)

    # ----- JSON-RPC -----

    def _post(
        self,
        payload: Any,
        what: str,
        timeout: float | None = None,
        session: requests.Session | None = None,
    ) -> Any:
        """POST a JSON-RPC payload over HTTP; the parsed JSON reply."""
        session = session or self._session
        assert session is not None and self._url is not None
        seconds = timeout or self._timeout
        try:
            response = session.post(self._url, data=json.dumps(payload), timeout=seconds)
        except requests.ConnectTimeout as e:
            raise ChainUnavailable(f"{what}: node unreachable: {e}") from e
        except requests.Timeout:
            # the node is there but slow: for eth_getLogs, a sign the range is too large
            raise RangeRefused(f"{what}: no answer within {seconds}s") from None
        except (requests.RequestException, OSError) as e:
            raise ChainUnavailable(f"{what}: node unreachable: {e}") from e
        try:
            return json.loads(response.content)
        except ValueError:
            raise ChainUnavailable(
                f"{what}: HTTP {response.status_code}, not JSON: {response.content[:200]!r}"
            ) from None

    def _request(self, method: str, params: list[Any], timeout: float | None = None) -> Any:
        if self._session is not None:
            body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
            # eth_getLogs has a session of its own: the indexer asks for the next range from
            # another thread while it reads headers
            session = self._logs_session if method == "eth_getLogs" else self._session
            return _result(method, self._post(body, method, timeout, session))
        try:
            reply = self.w3.provider.make_request(RPCEndpoint(method), params)
        except OSError as e:
            raise ChainUnavailable(f"{method}: node unreachable: {e}") from e
        return _result(method, reply)

    def _batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Results of `calls` in order, sent as JSON-RPC batches (one by one if unsupported)."""
        make_batch = getattr(self.w3.provider, "make_batch_request", None)
        if self._session is None and make_batch is None:
            return [self._request(m, p) for m, p in calls]
        results: list[Any] = []
        for start in range(0, len(calls), self.rpc_batch_limit):
            chunk = calls[start : start + self.rpc_batch_limit]
            what = f"batch of {len(chunk)}"
            if self._session is not None:
                body = [
                    {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                    for i, (m, p) in enumerate(chunk)
                ]
                replies = self._post(body, what)
                if isinstance(replies, list):  # a batch reply may come in any order
                    by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
                    if len(by_id) == len(replies) == len(chunk):
                        replies = [by_id.get(i) for i in range(len(chunk))]
            else:
                assert make_batch is not None
                try:
                    replies = make_batch([(RPCEndpoint(m), p) for m, p in chunk])
                except OSError as e:
                    raise ChainUnavailable(f"{what}: node unreachable: {e}") from e
            if not isinstance(replies, list) or len(replies) != len(chunk):
                _result("batch", replies)  # a single error object for the whole batch
                raise ChainUnavailable(f"{what}: malformed reply")
            results.extend(_result(m, r) for (m, _), r in zip(chunk, replies, strict=True))
        return results

    # ----- chain reads -----

    def chain_id(self) -> int:
        """The node's chain id (`eth_chainId`)."""
        return hex_int(self._request("eth_chainId", []), "eth_chainId")

    def block_number(self) -> int:
        """The node's head block number (`eth_blockNumber`)."""
        return hex_int(self._request("eth_blockNumber", []), "eth_blockNumber")

    def blocks(self, numbers: Iterable[int]) -> dict[int, RawBlock | None]:
        """Raw headers (without transactions) of `numbers`; None for a block the node lacks."""
        wanted = sorted(set(numbers))
        calls = [("eth_getBlockByNumber", [hex(n), False]) for n in wanted]
        return dict(zip(wanted, self._batch(calls), strict=True))

    def _get_logs(self, from_block: int, to_block: int) -> list[RawLog]:
        """One `eth_getLogs` call. Raises `RangeRefused` when the node refuses the range or
        times out, `ChainUnavailable` when it cannot be reached."""
        params = [{"address": self.token, "fromBlock": hex(from_block), "toBlock": hex(to_block)}]
        try:
            result = self._request("eth_getLogs", params, self.logs_timeout)
        except RangeRefused:
            raise
        except ChainUnavailable as e:
            if isinstance(e.__cause__, OSError | requests.RequestException):
                raise
            raise RangeRefused(str(e)) from None
        if not isinstance(result, list):
            raise ChainUnavailable(f"eth_getLogs: expected a list, got {type(result).__name__}")
        return result

    def logs(self, from_block: int, to_block: int) -> list[RawLog]:
        """Raw logs of the token in `from_block..to_block` (inclusive), in chain order, whatever
        the range's size: a range the node refuses is split in halves (for bounded memory,
        the indexer uses `next_logs`)."""
        try:
            return self._get_logs(from_block, to_block)
        except RangeRefused:
            if from_block >= to_block:
                raise
            middle = (from_block + to_block) // 2
            return self.logs(from_block, middle) + self.logs(middle + 1, to_block)

    def next_logs(self, from_block: int, last_block: int) -> tuple[int, list[RawLog]]:
        """Raw logs of the next range from `from_block` (at most through `last_block`), sized
        adaptively (module docstring): `(to_block, logs)`.

        Raises `ChainUnavailable` (a single block refused, or the node unreachable).
        """
        if last_block < from_block:
            raise ValueError(f"empty range {from_block}..{last_block}")
        while True:
            span = max(1, min(self.span, self.ceiling, self.batch_size))
            to_block = min(from_block + span - 1, last_block)
            try:
                logs = self._get_logs(from_block, to_block)
            except RangeRefused:
                if to_block == from_block:
                    raise
                self.refusals += 1
                asked = to_block - from_block + 1
                self.ceiling = max(1, asked // 2)
                self.span = self.ceiling
                self._good = 0
                continue
            self._adapt(to_block - from_block + 1, span, len(logs))
            return to_block, logs

    def _adapt(self, blocks: int, span: int, found: int) -> None:
        # proportional to the logs found, growing at most twofold a step
        grown = 2 * span
        wanted = grown if found == 0 else max(1, blocks * self.log_target // found)
        self.span = max(1, min(wanted, grown, self.batch_size))
        if self.ceiling < self.batch_size:
            self._good += 1
            if self._good >= CEILING_SUCCESSES:
                self.ceiling = min(self.batch_size, 2 * self.ceiling)
                self._good = 0

    def fetch(self, from_block: int, to_block: int, extra: Iterable[int] = ()) -> FetchedRange:
        """Logs of one range plus the headers of their blocks, of `to_block` and of `extra`.

        Logs come first, headers after: a caller compares each log's `blockHash` with its
        header to notice a chain that moved in between.
        """
        raw_logs = self.logs(from_block, to_block)
        numbers = {hex_int(log.get("blockNumber"), "blockNumber") for log in raw_logs}
        numbers.add(to_block)
        numbers.update(extra)
        return FetchedRange(from_block, to_block, raw_logs, self.blocks(numbers))


def _result(method: str, reply: Any) -> Any:
    if not isinstance(reply, dict):
        raise ChainUnavailable(f"{method}: malformed JSON-RPC reply {reply!r:.200}")
    if "error" in reply and reply["error"] is not None:
        err = reply["error"]
        message = err.get("message", err) if isinstance(err, dict) else err
        raise ChainUnavailable(f"{method}: node answered an error: {message}")
    if "result" not in reply:
        raise ChainUnavailable(f"{method}: JSON-RPC reply without result")
    return reply["result"]
