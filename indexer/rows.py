"""Raw `eth_getLogs` entries straight to mirror rows: the indexer's fast path.

The same checks as `indexer.decoder.decode_logs` (it shares its per-event decoders), without
building a record object per log, and with the block timestamps and hashes of headers read
once per block.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from indexer.decoder import ROW_TABLES, Block, RawLog, _hash, _kind_of, hex_int
from indexer.errors import ChainMoved, DecodeError


@dataclass
class DecodedRows:
    """Mirror rows per event table (tuples in the table's column order) and the numbers of the
    blocks they are in."""

    rows: dict[str, list[tuple[Any, ...]]]
    blocks: set[int]

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.rows.values())


def decode_rows(
    raws: Iterable[RawLog], headers: Mapping[int, Block], token: str | None = None
) -> DecodedRows:
    """Decode an `eth_getLogs` result straight into mirror rows, timestamps from `headers`.

    The same checks as `decode_logs` (`DecodeError`), and each log's `blockHash` must be the
    hash of its block in `headers`: `ChainMoved` when it is not (the chain moved between the two
    reads) or when `headers` lacks the block. Validates a header's hash once per block, a
    transaction hash once per run of logs of one transaction, an address once per address.
    """
    wanted = token.lower() if token is not None else None
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in ROW_TABLES}
    used: set[int] = set()
    # hex block number -> (number, hash, timestamp), filled as blocks are met
    seen: dict[Any, tuple[int, str, int]] = {}
    last_tx_raw: Any = None
    last_tx = ""
    for raw in raws:
        if wanted is not None:
            address = raw.get("address")
            if address != wanted and str(address).lower() != wanted:
                raise DecodeError(f"log of {address} in a reply for {token}")
        kind = _kind_of(raw)
        if kind is None:
            continue
        if raw.get("removed"):
            raise DecodeError("log is marked removed (eth_getLogs never returns those)")
        table, topics, decode = kind
        fields = decode(topics, raw.get("data", "0x"))
        number_hex = raw.get("blockNumber")
        block = seen.get(number_hex) if isinstance(number_hex, str) else None
        if block is None:
            number = hex_int(number_hex, "blockNumber")
            header = headers.get(number)
            if header is None:
                raise ChainMoved(f"no header of block {number} (the chain moved)")
            block = (number, header.hash, header.timestamp)
            seen[number_hex] = block
            used.add(number)
        number, block_hash, timestamp = block
        block_hash_raw = raw.get("blockHash")
        if block_hash_raw != block_hash and _hash(block_hash_raw, "blockHash") != block_hash:
            raise ChainMoved(f"block {number} changed while fetching")
        tx_raw = raw.get("transactionHash")
        if tx_raw != last_tx_raw:
            last_tx = _hash(tx_raw, "transactionHash")
            last_tx_raw = tx_raw
        log_index = hex_int(raw.get("logIndex"), "logIndex")
        if table == "redemptions":
            rows[table].append((*fields, number, timestamp, last_tx, log_index))
        else:
            rows[table].append((last_tx, log_index, number, timestamp, *fields))
    return DecodedRows(rows, used)
