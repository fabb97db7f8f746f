"""Anchoring settlement batches on chain with the settler key (`recordSettlementPart`), at any
size.

A batch's redemption ids go to the chain as ascending ranges (`id_ranges`), in as many parts
(transactions) as the block gas limit needs (`plan_parts`: a gas model with a margin under the
limit). Parts of a batch ascend, so the chain's record says how far a batch got (`redemptions`,
`lastId`): an interrupted anchoring goes on with the ids after those, and the contract refuses
any id twice. Before anything, `check_chain` checks the manifest, the settler key and the chain.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from web3 import Web3

from heitje.datadir import DataDir
from heitje.errors import ChainError, HeitjeError
from node.keys import load_key
from node.manifest import Manifest
from node.signer import Signer
from node.token import SettlementRecord, Token, batch_id_bytes, connect
from store import ledger

__all__ = [
    "AnchorFailed",
    "ChainCheckFailed",
    "anchor_settlements",
    "check_chain",
    "id_ranges",
    "part_budget",
    "plan_parts",
]

# Gas of one recordSettlementPart transaction, upper bounds (measured figures in
# docs/token.md): the transaction and the batch record's first writes; each range (its start and
# batch, two running totals read, calldata and event); a range's first id in a bitmap word of
# range starts no earlier range of the part wrote; each bitmap word of settled ids first written.
PART_GAS = 160_000
RANGE_GAS = 32_000
START_WORD_GAS = 22_500
WORD_GAS = 24_000
MAX_RANGES_PER_PART = 1_000
"""Ranges in one part at most: its calldata stays under 64 KiB, well below the nodes' 128 KiB
transaction size limit."""
GAS_LIMIT_SHARE = (2, 3)
"""A part's modelled gas stays under this share of the block gas limit: the signer's estimate
plus its 20% margin then still fits a block."""
OPEN_TX_WAIT = 120.0
"""Seconds `anchor_settlements` waits for the settler's transactions still open in the journal
(an earlier run's parts) before it reads how far each batch got."""


class ChainCheckFailed(HeitjeError):
    """The chain a run would anchor on is not fit, checked before anything is written:
    `chain_unreachable`, `wrong_chain`, `no_contract`, or the manifest's and key's own codes
    (`no_deployment`, `invalid_deployment`, `missing_key`, ...). The message names the RPC URL."""

    code = "chain_unreachable"


class AnchorFailed(HeitjeError):
    """Batches are written (files and ledger) but not recorded on chain. `result`: the run's
    JSON-ready result (None for `heitje anchor`); `files`: the pain.001 files (relative to the
    data dir) of the batches not recorded; `rpc_url`; `reason`: the chain's or connection's
    error. `anchor_settlements` records them later."""

    code = "anchor_failed"

    def __init__(
        self, result: dict[str, Any] | None, files: list[str], rpc_url: str, reason: str
    ) -> None:
        super().__init__(
            f"{', '.join(files)} written but not recorded on the chain at {rpc_url}: {reason}"
        )
        self.result = result
        self.files = files
        self.rpc_url = rpc_url
        self.reason = reason


def check_chain(data_dir: Path, rpc_url: str) -> tuple[Web3, Manifest]:
    """Before a run writes anything: the manifest of `data_dir` loads, the settler key is there,
    the node at `rpc_url` answers with the manifest's chain id and has contract code at the
    token address. Returns the connection and the manifest. Raises `ChainCheckFailed` naming
    `rpc_url` (codes in its docstring)."""
    paths = DataDir(data_dir)
    where = f"the chain at {rpc_url}"
    try:
        manifest = Manifest.load(paths.manifest)
        load_key(paths.key("settler"))
    except HeitjeError as e:
        raise ChainCheckFailed(f"cannot anchor on {where}: {e.message}", code=e.code) from None
    w3 = connect(rpc_url, timeout=10.0)
    try:
        chain_id = int(w3.eth.chain_id)
        code = bytes(w3.eth.get_code(manifest.token))
    except Exception as e:  # requests', web3's, timeouts, a malformed URL: the node is not there
        raise ChainCheckFailed(
            f"cannot reach {where}: {type(e).__name__}", code="chain_unreachable"
        ) from None
    if chain_id != manifest.chain_id:
        raise ChainCheckFailed(
            f"{where} has chain id {chain_id}, {paths.manifest} says {manifest.chain_id}",
            code="wrong_chain",
        )
    if not code:
        raise ChainCheckFailed(
            f"{where} has no contract at {manifest.token} (token of {paths.manifest})",
            code="no_contract",
        )
    return w3, manifest


def id_ranges(ids: Sequence[int]) -> list[tuple[int, int]]:
    """Ascending redemption ids as ranges (first, last), both included, adjacent ids merged:
    [1, 2, 3, 7, 9, 10] -> [(1, 3), (7, 7), (9, 10)]. Raises ValueError when `ids` do not
    strictly ascend or one is below 1."""
    ranges: list[tuple[int, int]] = []
    previous = 0
    for rid in ids:
        if rid <= previous:
            raise ValueError(f"redemption ids must ascend from 1: {rid} after {previous}")
        if ranges and rid == previous + 1:
            ranges[-1] = (ranges[-1][0], rid)
        else:
            ranges.append((rid, rid))
        previous = rid
    return ranges


def plan_parts(ids: Sequence[int], budget: int) -> list[list[tuple[int, int]]]:
    """Split ascending redemption `ids` into parts of ranges, each within `budget` gas by the
    model (`PART_GAS`, `RANGE_GAS`, `START_WORD_GAS`, `WORD_GAS`) and `MAX_RANGES_PER_PART`;
    a range too big for one part is cut at a bitmap word boundary (256 ids). Parts ascend and
    together hold exactly `ids`. Raises ValueError when `budget` cannot hold one word of one
    range, or as `id_ranges`."""
    smallest = PART_GAS + RANGE_GAS + START_WORD_GAS + WORD_GAS
    if budget < smallest:
        raise ValueError(f"a gas budget of {budget} cannot hold a settlement part ({smallest})")
    parts: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    gas = PART_GAS
    last_word = -1  # the last bitmap word of settled ids the part writes
    last_start_word = -1  # the last word of range starts the part writes

    def cost(first: int, last: int) -> int:
        words = (last >> 8) - (first >> 8) + 1 - (1 if first >> 8 == last_word else 0)
        start = START_WORD_GAS if first >> 8 != last_start_word else 0
        return RANGE_GAS + start + WORD_GAS * words

    def close() -> None:
        nonlocal current, gas, last_word, last_start_word
        parts.append(current)
        current, gas, last_word, last_start_word = [], PART_GAS, -1, -1

    for first, last in id_ranges(ids):
        while True:
            full = len(current) >= MAX_RANGES_PER_PART
            if current and (full or gas + cost(first, last) > budget):
                close()
            if gas + cost(first, last) <= budget:
                gas += cost(first, last)
                current.append((first, last))
                last_word, last_start_word = last >> 8, first >> 8
                break
            # Too big for a part of its own: as many whole words as fit, the rest in the next.
            words = (budget - gas - RANGE_GAS - START_WORD_GAS) // WORD_GAS
            cut = ((first >> 8) + words) * 256 - 1
            current.append((first, cut))
            close()
            first = cut + 1
    if current:
        parts.append(current)
    return parts


def part_budget(token: Token) -> int:
    """Gas a settlement part may use by the model: `GAS_LIMIT_SHARE` of the latest block's gas
    limit."""
    num, den = GAS_LIMIT_SHARE
    return token.block_gas_limit() * num // den


def anchor_settlements(data_dir: Path, rpc_url: str) -> list[str]:
    """Record on chain (`recordSettlementPart`, settler key) every ledger batch the chain has
    not closed yet: batch id, its redemption ids as ranges, total euro cents, sha256 of the
    pain.001 file, in as many parts as the block gas limit needs (`plan_parts`). A batch the
    chain holds in part (an earlier run stopped between parts) goes on after the ids the chain
    has: parts ascend, so those are the first `redemptions` ids of the batch. Returns the batch
    ids closed now (in batch id order).

    Waits first for the settler's transactions still open in the journal. Checks the chain
    first (`check_chain`: `ChainCheckFailed` naming `rpc_url`). Raises `AnchorFailed` (files of
    the batches still not recorded, the reason) when the contract refuses a part (e.g.
    `paused`), the chain's record of a batch differs from the ledger (`chain_mismatch`) or the
    chain stops answering; a later call goes on from what the chain has.
    """
    w3, manifest = check_chain(data_dir, rpc_url)
    paths = DataDir(data_dir)
    token = Token(w3, manifest.token)
    settler = Signer(w3, load_key(paths.key("settler")), paths.nonce_journal)
    batches = _ledger_batches(data_dir)
    done: list[str] = []
    for n, batch in enumerate(batches):
        key = batch_id_bytes(batch.batch_id)
        try:
            if n == 0:
                _wait_for_open(settler)
            record = token.settlement(key)
            if record.closed:
                continue
            _anchor_batch(data_dir, token, settler, batch, record)
        except Exception as e:  # the contract's refusal, a node gone, a timeout: retry later
            files = {b.batch_id: b.file_path for b in batches}
            left = [b for b in batches[n:] if b is batch or not _recorded(token, b.batch_id)]
            reason = f"{e.code}: {e.message}" if isinstance(e, HeitjeError) else type(e).__name__
            names = [files.get(b.batch_id, b.batch_id) for b in left]
            raise AnchorFailed(None, names, rpc_url, reason) from e
        done.append(batch.batch_id)
    return done


def _ledger_batches(data_dir: Path) -> list[ledger.LedgerBatch]:
    service_db = DataDir(data_dir).service_db
    if not service_db.is_file():
        return []
    with ledger.open_read_only(service_db) as conn:
        return ledger.batches(conn) if ledger.has_ledger(conn) else []


def _wait_for_open(settler: Signer) -> None:
    """Follow the settler's open transactions (an earlier run's parts) until each is final, so
    the chain's records say how far every batch got. Raises `ChainError` (`tx_timeout`)."""
    deadline = time.monotonic() + OPEN_TX_WAIT
    while any(not st.final for st in settler.tick()):
        if time.monotonic() > deadline:
            raise ChainError(
                f"the settler's earlier transactions are still open after {OPEN_TX_WAIT:.0f}s",
                code="tx_timeout",
            )
        time.sleep(0.2)


def _anchor_batch(
    data_dir: Path,
    token: Token,
    settler: Signer,
    batch: ledger.LedgerBatch,
    record: SettlementRecord,
) -> None:
    """Send the parts of `batch` after what `record` (its chain record, not closed) holds."""
    service_db = DataDir(data_dir).service_db
    with ledger.open_read_only(service_db) as conn:
        ids = ledger.batch_redemption_ids(conn, batch.batch_id)
    file_hash = bytes.fromhex(batch.file_sha256)
    done = record.redemptions if record.recorded_at else 0
    if done and (
        record.file_hash != file_hash
        or record.total_cents != batch.total_cents
        or done >= len(ids)
        or ids[done - 1] != record.last_id
    ):
        raise ChainError(
            f"the chain holds {done} redemptions of {batch.batch_id} up to id {record.last_id},"
            " which are not the first of the ledger's batch",
            code="chain_mismatch",
        )
    key = batch_id_bytes(batch.batch_id)
    parts = plan_parts(ids[done:], part_budget(token))
    for i, ranges in enumerate(parts):
        settler.transact(
            token.record_settlement_part_tx(
                key, ranges, batch.total_cents, file_hash, last=i == len(parts) - 1
            ),
            timeout=300.0,
        )


def _recorded(token: Token, batch_id: str) -> bool:
    """True when the chain says batch `batch_id` is closed; False when not or it cannot say."""
    try:
        return token.settlement(batch_id_bytes(batch_id)).closed
    except Exception:
        return False
