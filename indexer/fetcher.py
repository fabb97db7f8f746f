"""Fetch raw token logs and block headers over standard JSON-RPC.

Methods used: `eth_chainId`, `eth_blockNumber`, `eth_getLogs` (filtered by the token address,
in block ranges of `batch_size`) and `eth_getBlockByNumber(n, false)`; headers go out as JSON-RPC
2.0 batches of at most `rpc_batch_limit` calls (geth's default limit is 1,000). Replies stay raw
JSON (hex strings), exactly what `indexer.decoder` takes, so recorded replies and live ones go
through the same code. Nothing here needs a client extension or web3 formatting (so PoA
`extraData` is no concern)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.types import RPCEndpoint

from indexer.decoder import RawBlock, RawLog, hex_int
from indexer.errors import ChainUnavailable

DEFAULT_BATCH_SIZE = 2_000
"""Blocks per `eth_getLogs` call."""

DEFAULT_RPC_BATCH_LIMIT = 500
"""Calls per JSON-RPC batch request."""


@dataclass(frozen=True)
class FetchedRange:
    """Raw logs of blocks `from_block..to_block` (inclusive) and the raw headers asked for:
    every block with a log, `to_block`, and any extra numbers (None where the node has none)."""

    from_block: int
    to_block: int
    logs: list[RawLog]
    blocks: dict[int, RawBlock | None] = field(default_factory=dict)


class Fetcher:
    """Reads the token's logs from one node. `batch_size` bounds the blocks per `eth_getLogs`.

    Raises `ChainUnavailable` when the node cannot be reached or answers an error (a range the
    node refuses is split in halves first, down to single blocks).
    """

    def __init__(
        self,
        w3: Web3,
        token: ChecksumAddress,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        rpc_batch_limit: int = DEFAULT_RPC_BATCH_LIMIT,
    ) -> None:
        if batch_size < 1 or rpc_batch_limit < 1:
            raise ValueError("batch_size and rpc_batch_limit must be at least 1")
        self.w3 = w3
        self.token = token
        self.batch_size = batch_size
        self.rpc_batch_limit = rpc_batch_limit

    # ----- JSON-RPC -----

    def _request(self, method: str, params: list[Any]) -> Any:
        try:
            reply = self.w3.provider.make_request(RPCEndpoint(method), params)
        except OSError as e:
            raise ChainUnavailable(f"{method}: node unreachable: {e}") from e
        return _result(method, reply)

    def _batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Results of `calls` in order, sent as JSON-RPC batches (one by one if unsupported)."""
        make_batch = getattr(self.w3.provider, "make_batch_request", None)
        if make_batch is None:
            return [self._request(m, p) for m, p in calls]
        results: list[Any] = []
        for start in range(0, len(calls), self.rpc_batch_limit):
            chunk = calls[start : start + self.rpc_batch_limit]
            try:
                replies = make_batch([(RPCEndpoint(m), p) for m, p in chunk])
            except OSError as e:
                raise ChainUnavailable(f"batch of {len(chunk)}: node unreachable: {e}") from e
            if not isinstance(replies, list) or len(replies) != len(chunk):
                _result("batch", replies)  # a single error object for the whole batch
                raise ChainUnavailable(f"batch of {len(chunk)}: malformed reply")
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

    def logs(self, from_block: int, to_block: int) -> list[RawLog]:
        """Raw logs of the token in `from_block..to_block` (inclusive), in chain order.

        A range the node refuses (result limits, range limits) is split in halves.
        """
        params = [{"address": self.token, "fromBlock": hex(from_block), "toBlock": hex(to_block)}]
        try:
            result = self._request("eth_getLogs", params)
        except ChainUnavailable as e:
            if from_block >= to_block or isinstance(e.__cause__, OSError):
                raise
            middle = (from_block + to_block) // 2
            return self.logs(from_block, middle) + self.logs(middle + 1, to_block)
        if not isinstance(result, list):
            raise ChainUnavailable(f"eth_getLogs: expected a list, got {type(result).__name__}")
        return result

    def ranges(self, from_block: int, to_block: int) -> Iterator[tuple[int, int]]:
        """`from_block..to_block` cut into inclusive ranges of at most `batch_size` blocks."""
        start = from_block
        while start <= to_block:
            end = min(start + self.batch_size - 1, to_block)
            yield start, end
            start = end + 1

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
