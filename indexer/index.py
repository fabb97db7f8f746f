"""The indexer: keeps the mirror file equal to the token's history on chain, reorg-safe.

One `sync_once()`:

1. reads the head and sets the target `head - confirmations`;
2. checks that the stored checkpoint block still has the same hash on chain; if not, walks back
   over the stored block hashes to the last block the mirror shares with the chain, deletes every
   row above it and moves the checkpoint there (one transaction);
3. fetches the following ranges (`batch_size` blocks each, `eth_getLogs`) with the headers of
   the blocks involved, checks that the logs, the headers and the checkpoint belong to one chain,
   decodes and writes each range with its checkpoint in one transaction.

A chain that moves while a range is fetched (`ChainMoved`) sends it back to step 2. `run()`
repeats this every `poll_interval` seconds until its stop event is set.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from web3 import Web3

from indexer._schema import Checkpoint
from indexer.decoder import Block, Record, decode_block, decode_logs
from indexer.errors import ChainMoved, ChainUnavailable, IndexerTimeout, MirrorMismatch
from indexer.fetcher import DEFAULT_BATCH_SIZE, FetchedRange, Fetcher
from indexer.writer import Writer
from node.manifest import Manifest

log = logging.getLogger(__name__)

WALK_BACK_PAGE = 100
"""Stored block hashes compared with the chain per JSON-RPC batch when looking for a fork."""

MAX_ATTEMPTS = 5
"""Times a sync restarts after `ChainMoved` before giving up for this round."""


class Indexer:
    """Indexes HeitjeToken at `token_address` from `start_block` (its deploy block) into the
    SQLite file `mirror_path`, `confirmations` blocks behind the head.

    Thread-safe: `sync_once`, `run` and `wait_until` may be called from different threads.
    Raises `MirrorMismatch` when the file mirrors another token or chain, `ChainUnavailable`
    when the node does not answer (here: `eth_chainId`).
    """

    def __init__(
        self,
        w3: Web3,
        token_address: str,
        mirror_path: Path,
        start_block: int,
        confirmations: int = 0,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        if start_block < 0 or confirmations < 0:
            raise ValueError("start_block and confirmations must not be negative")
        self.token: ChecksumAddress = to_checksum_address(token_address)
        self.confirmations = confirmations
        self.fetcher = Fetcher(w3, self.token, batch_size=batch_size)
        chain_id = str(self.fetcher.chain_id())
        self.writer = Writer(Path(mirror_path))
        self._lock = threading.Lock()
        meta = self.writer.meta()
        if not meta:
            self.writer.set_meta(
                {"token": self.token, "chain_id": chain_id, "start_block": start_block}
            )
            meta = self.writer.meta()
        if meta.get("token") != self.token or meta.get("chain_id") != chain_id:
            self.writer.close()
            raise MirrorMismatch(
                f"{mirror_path} mirrors token {meta.get('token')} on chain "
                f"{meta.get('chain_id')}, not {self.token} on chain {chain_id}"
            )
        self.start_block = int(meta["start_block"])

    @classmethod
    def from_manifest(
        cls, w3: Web3, manifest: Manifest, mirror_path: Path, **options: int
    ) -> Indexer:
        """An indexer for the deployment in `manifest` (token address, deploy block)."""
        return cls(w3, manifest.token, mirror_path, manifest.deploy_block, **options)

    def close(self) -> None:
        """Close the mirror file."""
        with self._lock:
            self.writer.close()

    def checkpoint(self) -> Checkpoint | None:
        """The last block the mirror holds completely, or None before the first sync."""
        with self._lock:
            return self.writer.checkpoint()

    # ----- syncing -----

    def sync_once(self) -> int:
        """Index up to `head - confirmations`; returns the number of blocks indexed (0 when up to
        date). Rolls back first when the chain no longer has the checkpoint block.

        Raises `ChainUnavailable` when the node fails, `ChainMoved` when the chain kept changing
        during `MAX_ATTEMPTS` tries, `DecodeError` on a malformed log of the token.
        """
        return self._sync(None)

    def _sync(self, stop: threading.Event | None) -> int:
        with self._lock:
            return self._sync_locked(stop)

    def _sync_locked(self, stop: threading.Event | None) -> int:
        advanced = 0
        for attempt in range(1, MAX_ATTEMPTS + 1):
            target = self.fetcher.block_number() - self.confirmations
            checkpoint = self._check_reorg()
            start = checkpoint.block_number + 1 if checkpoint else self.start_block
            try:
                for from_block, to_block in self.fetcher.ranges(start, target):
                    if stop is not None and stop.is_set():
                        break
                    checkpoint = self._index_range(from_block, to_block, checkpoint)
                    advanced += to_block - from_block + 1
                return advanced
            except ChainMoved as e:
                if attempt == MAX_ATTEMPTS:
                    raise
                log.info("chain moved during sync (%s); checking again", e)
        raise AssertionError("unreachable")

    def _index_range(
        self, from_block: int, to_block: int, previous: Checkpoint | None
    ) -> Checkpoint:
        extra = [previous.block_number] if previous else []
        fetched = self.fetcher.fetch(from_block, to_block, extra)
        records, blocks = _verify(fetched, previous, self.token)
        end = blocks[to_block]
        self.writer.write(records, blocks, end)
        log.debug("indexed blocks %d..%d: %d events", from_block, to_block, len(records))
        return Checkpoint(end.number, end.hash)

    def _check_reorg(self) -> Checkpoint | None:
        """The checkpoint, after rolling the mirror back if the chain lost its block."""
        checkpoint = self.writer.checkpoint()
        if checkpoint is None:
            return None
        raw = self.fetcher.blocks([checkpoint.block_number])[checkpoint.block_number]
        if raw is not None and decode_block(raw).hash == checkpoint.block_hash:
            return checkpoint
        common = self._last_common_block(checkpoint.block_number)
        deleted = self.writer.rollback_to(common)
        log.warning(
            "reorg: block %d %s is no longer on chain; rolled back to %s (%d rows removed)",
            checkpoint.block_number, checkpoint.block_hash,
            common.number if common else "an empty mirror", deleted,
        )  # fmt: skip
        return Checkpoint(common.number, common.hash) if common else None

    def _last_common_block(self, below: int) -> Block | None:
        """The highest stored block at or below `below` whose hash the chain still has."""
        while True:
            stored = self.writer.stored_blocks(below, WALK_BACK_PAGE)
            if not stored:
                return None
            chain = self.fetcher.blocks(b.number for b in stored)
            for block in stored:  # highest first
                raw = chain[block.number]
                if raw is not None and decode_block(raw).hash == block.hash:
                    return block
            below = stored[-1].number - 1

    def run(self, poll_interval: float, stop_event: threading.Event) -> None:
        """Sync every `poll_interval` seconds until `stop_event` is set. A node that fails or a
        chain that keeps moving is logged and tried again next round; other errors propagate."""
        while not stop_event.is_set():
            try:
                self._sync(stop_event)
            except (ChainUnavailable, ChainMoved) as e:
                log.warning("indexer: %s (code %s); retrying in %ss", e, e.code, poll_interval)
            stop_event.wait(poll_interval)

    def wait_until(self, block_number: int, timeout: float = 30.0) -> Checkpoint:
        """Sync until the mirror holds `block_number`; returns the checkpoint reached.

        Safe next to a running `run()` loop (they share a lock). With `confirmations` > 0 the
        chain must first grow that far past `block_number`. Raises `IndexerTimeout`.
        """
        deadline = time.monotonic() + timeout
        checkpoint: Checkpoint | None = None
        while self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            try:
                checkpoint = self.writer.checkpoint()
                if checkpoint is not None and checkpoint.block_number >= block_number:
                    return checkpoint
                try:
                    advanced = self._sync_locked(None)
                except (ChainUnavailable, ChainMoved) as e:
                    log.info("wait_until: %s", e)
                    advanced = 0
                checkpoint = self.writer.checkpoint()
                if checkpoint is not None and checkpoint.block_number >= block_number:
                    return checkpoint
            finally:
                self._lock.release()
            if time.monotonic() >= deadline:
                break
            if advanced == 0:
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        have = checkpoint.block_number if checkpoint else "nothing"
        raise IndexerTimeout(f"mirror reached block {have}, not {block_number}, within {timeout}s")


def _verify(
    fetched: FetchedRange, previous: Checkpoint | None, token: str
) -> tuple[list[Record], dict[int, Block]]:
    """Decode a fetched range and check it is one chain: each log's block hash is its header's,
    the previous checkpoint is still there and `to_block` exists. Raises `ChainMoved`."""
    blocks: dict[int, Block] = {}
    for number, raw in fetched.blocks.items():
        if raw is None:
            raise ChainMoved(f"block {number} is gone (the chain is shorter now)")
        blocks[number] = decode_block(raw)
    if previous is not None and blocks[previous.block_number].hash != previous.block_hash:
        raise ChainMoved(f"checkpoint block {previous.block_number} was replaced")
    records = decode_logs(fetched.logs, token)
    for record in records:
        if blocks[record.block_number].hash != record.block_hash:
            raise ChainMoved(f"block {record.block_number} changed while fetching")
    return records, blocks
