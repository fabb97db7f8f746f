"""The indexer: keeps the mirror file equal to the token's history on chain, reorg-safe.

One `sync_once()`:

1. reads the head and sets the target `head - confirmations`;
2. checks that the stored checkpoint block still has the same hash on chain; if not, walks back
   over the stored block hashes to the last block the mirror shares with the chain, deletes every
   row above it and moves the checkpoint there (one transaction);
3. fetches the following ranges (`eth_getLogs`, sized by the node's answers: see
   `indexer.fetcher`), each with the headers of the blocks involved (those with logs, the
   range's last block and the previous checkpoint block), read after the logs; checks that the
   logs, the headers and the checkpoint belong to one chain; cuts the range's logs into chunks
   of at most `chunk_logs` logs at block boundaries (a block is never split) and decodes and
   writes each chunk's rows with the checkpoint moved to its last block, all or nothing (a
   savepoint); the chunks are committed together every `commit_logs` rows and when the sync
   ends or fails (fewer commits write each index page fewer times). The checkpoint is always a
   block whose rows are all written (the last block of a chunk, or the range's end once its
   last chunk is in), in every committed state. Memory holds one range's raw logs (about
   `log_target`) and one chunk's rows, never more; with `prefetch` the next range is fetched
   (logs, then headers) in a thread while this one is written, so two ranges at most.

A chain that moves while a range is fetched (`ChainMoved`) sends it back to step 2. `run()`
repeats this every `poll_interval` seconds until its stop event is set.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from web3 import Web3

from indexer._schema import Checkpoint
from indexer.decoder import Block, RawBlock, RawLog, decode_block, hex_int
from indexer.errors import ChainMoved, ChainUnavailable, IndexerTimeout, MirrorMismatch
from indexer.fetcher import DEFAULT_BATCH_SIZE, DEFAULT_LOG_TARGET, DEFAULT_LOGS_TIMEOUT, Fetcher
from indexer.rows import decode_rows
from indexer.writer import Writer
from node.manifest import Manifest

log = logging.getLogger(__name__)

WALK_BACK_PAGE = 100
"""Stored block hashes compared with the chain per JSON-RPC batch when looking for a fork."""

MAX_ATTEMPTS = 5
"""Times a sync restarts after `ChainMoved` before giving up for this round."""

DEFAULT_CHUNK_LOGS = 2_500
"""Logs decoded and written at once, each chunk with its checkpoint (more only when one block
holds more)."""

DEFAULT_COMMIT_LOGS = 25_000
"""Rows after which the writes of a sync are committed (`Writer.batch`)."""


class Indexer:
    """Indexes HeitjeToken at `token_address` from `start_block` (its deploy block) into the
    SQLite file `mirror_path`, `confirmations` blocks behind the head.

    `batch_size` bounds the blocks per `eth_getLogs`, `log_target` is the logs it aims at per
    call, `logs_timeout` the seconds after which a call's range is halved (`indexer.fetcher`);
    `chunk_logs` bounds the logs decoded and written at once, each chunk all or nothing with its
    checkpoint, `commit_logs` the rows committed together (module docstring).

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
        log_target: int = DEFAULT_LOG_TARGET,
        chunk_logs: int = DEFAULT_CHUNK_LOGS,
        logs_timeout: float = DEFAULT_LOGS_TIMEOUT,
        commit_logs: int = DEFAULT_COMMIT_LOGS,
    ) -> None:
        if start_block < 0 or confirmations < 0:
            raise ValueError("start_block and confirmations must not be negative")
        if chunk_logs < 1 or commit_logs < 1:
            raise ValueError("chunk_logs and commit_logs must be at least 1")
        self.token: ChecksumAddress = to_checksum_address(token_address)
        self.confirmations = confirmations
        self.chunk_logs = chunk_logs
        self.commit_logs = commit_logs
        self.fetcher = Fetcher(
            w3, self.token, batch_size=batch_size, log_target=log_target, logs_timeout=logs_timeout
        )
        chain_id = str(self.fetcher.chain_id())
        self.writer = Writer(Path(mirror_path))
        self._lock = threading.Lock()
        self._prefetch: ThreadPoolExecutor | None = None
        self.prefetch = True
        """Fetch the next range in a thread while this one is written (False: one by one)."""
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
            if self._prefetch is not None:
                self._prefetch.shutdown(wait=True, cancel_futures=True)
                self._prefetch = None
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
            pending = self._fetch_next(start, target, stop)
            try:
                with self.writer.batch(self.commit_logs):
                    while pending is not None:
                        fetched = pending.result()
                        pending = self._fetch_next(fetched.to_block + 1, target, stop)
                        checkpoint = self._index_range(fetched, checkpoint)
                        advanced += fetched.to_block - start + 1
                        start = fetched.to_block + 1
                return advanced
            except ChainMoved as e:
                if attempt == MAX_ATTEMPTS:
                    raise
                log.info("chain moved during sync (%s); checking again", e)
            finally:
                _discard(pending)
        raise AssertionError("unreachable")

    def _fetch_next(
        self, start: int, target: int, stop: threading.Event | None
    ) -> Future[_Range] | None:
        """Start fetching the range from `start` (None when past `target` or stopping): in the
        prefetch thread, or here when `prefetch` is off."""
        if start > target or (stop is not None and stop.is_set()):
            return None
        if not self.prefetch:
            done: Future[_Range] = Future()
            try:
                done.set_result(self._fetch_range(start, target))
            except Exception as e:  # raised where the result is read, as from the thread
                done.set_exception(e)
            return done
        if self._prefetch is None:
            self._prefetch = ThreadPoolExecutor(1, thread_name_prefix="heitje-indexer-fetch")
        return self._prefetch.submit(self._fetch_range, start, target)

    def _fetch_range(self, start: int, target: int) -> _Range:
        """The logs of the next range from `start`, then the headers they need."""
        to_block, raw_logs = self.fetcher.next_logs(start, target)
        numbers = {hex_int(n, "blockNumber") for n in {raw.get("blockNumber") for raw in raw_logs}}
        numbers.add(to_block)
        if start > 0:
            numbers.add(start - 1)  # the previous checkpoint, when there is one
        return _Range(start, to_block, raw_logs, _headers(self.fetcher.blocks(numbers)))

    def _index_range(self, fetched: _Range, previous: Checkpoint | None) -> Checkpoint:
        """Check the range continues `previous`, write its logs chunk by chunk, each with its
        checkpoint; returns the last. Empties `fetched.logs` as it goes."""
        headers, raw_logs = fetched.headers, fetched.logs
        if previous is not None and headers[previous.block_number].hash != previous.block_hash:
            raise ChainMoved(f"checkpoint block {previous.block_number} was replaced")
        while True:
            cut = _chunk_end(raw_logs, self.chunk_logs)
            chunk = raw_logs[:cut]
            del raw_logs[:cut]
            # a chunk with logs left after it ends with its last (whole) block
            end = hex_int(chunk[-1].get("blockNumber"), "blockNumber") if raw_logs else None
            top = headers[fetched.to_block if end is None else end]
            decoded = decode_rows(chunk, headers, self.token)
            self.writer.write_rows(decoded.rows, [headers[n] for n in decoded.blocks], top)
            previous = Checkpoint(top.number, top.hash)
            if not raw_logs:
                log.debug("indexed blocks %d..%d", fetched.from_block, fetched.to_block)
                return previous

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


@dataclass
class _Range:
    """A fetched range: its raw logs (chain order) and the decoded headers it needs."""

    from_block: int
    to_block: int
    logs: list[RawLog]
    headers: dict[int, Block]


def _discard(pending: Future[_Range] | None) -> None:
    """Wait for a fetch nobody will use (the fetcher serves one call at a time), drop it."""
    if pending is not None and not pending.cancel():
        wait([pending])


def _chunk_end(raw_logs: list[RawLog], limit: int) -> int:
    """How many of `raw_logs` (in chain order) the next chunk takes: at most `limit`, cut at a
    block boundary; all of the first block when that block alone holds more."""
    if len(raw_logs) <= limit:
        return len(raw_logs)
    block = raw_logs[limit].get("blockNumber")  # the first log left out
    cut = limit
    while cut > 0 and raw_logs[cut - 1].get("blockNumber") == block:
        cut -= 1
    if cut > 0:
        return cut
    cut = limit + 1  # one block of more than `limit` logs: take it whole
    while cut < len(raw_logs) and raw_logs[cut].get("blockNumber") == block:
        cut += 1
    return cut


def _headers(raws: dict[int, RawBlock | None]) -> dict[int, Block]:
    """Decoded headers; `ChainMoved` when the node no longer has one of the blocks."""
    headers: dict[int, Block] = {}
    for number, raw in raws.items():
        if raw is None:
            raise ChainMoved(f"block {number} is gone (the chain is shorter now)")
        headers[number] = decode_block(raw)
    return headers
