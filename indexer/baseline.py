"""The same-work baseline `bench/indexer_scale.py` measures the indexer against: `eth_getLogs`
over fixed block ranges, one JSON-RPC batch of `eth_getBlockByNumber` for the timestamps, a
plain decode and `sqlite3` `executemany` into the mirror's schema, rows, headers and
checkpoint in one transaction per range. Nothing else: no checks that the logs and headers are
one chain, no adaptive ranges, no bounded memory beyond what the fixed range gives.

It lives in the indexer room because only this room runs SQL on a mirror-shaped file
(tests/test_layout.py); nothing in the service imports it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any


def baseline(rpc_url: str, token: str, start: int, head: int, path: Path, span: int) -> int:
    """Index blocks `start..head` of `token` into the new file `path`, `span` blocks per
    `eth_getLogs`; returns the number of event rows written."""
    import functools

    import requests
    from eth_utils.address import to_checksum_address
    from eth_utils.crypto import keccak

    from indexer._schema import ensure_schema

    session = requests.Session()
    session.headers["Content-Type"] = "application/json"

    def post(payload: Any) -> Any:
        return json.loads(session.post(rpc_url, data=json.dumps(payload), timeout=60).content)

    def topic(sig: str) -> str:
        return "0x" + keccak(text=sig).hex()

    checksum = functools.lru_cache(maxsize=65_536)(lambda t: to_checksum_address("0x" + t[26:]))
    kinds = {0: "none", 1: "citizen", 2: "shop"}
    TRANSFER = topic("Transfer(address,address,uint256)")
    REWARD = topic("RewardMinted(address,uint256,bytes32)")
    REDEEMED = topic("Redeemed(uint256,address,uint256)")
    REGISTERED = topic("AccountRegistered(address,uint8)")
    USED = topic("AuthorizationUsed(address,bytes32)")
    CANCELED = topic("AuthorizationCanceled(address,bytes32)")

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    ensure_schema(conn)
    written = 0
    for lo in range(start, head + 1, span):
        hi = min(lo + span - 1, head)
        logs = post(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "eth_getLogs",
                "params": [{"address": token, "fromBlock": hex(lo), "toBlock": hex(hi)}],
            }
        )["result"]
        numbers = sorted({int(x["blockNumber"], 16) for x in logs} | {hi})
        replies = post(
            [
                {
                    "jsonrpc": "2.0",
                    "id": i,
                    "method": "eth_getBlockByNumber",
                    "params": [hex(n), False],
                }
                for i, n in enumerate(numbers)
            ]
        )
        headers = {int(r["result"]["number"], 16): r["result"] for r in replies}
        ts = {n: int(h["timestamp"], 16) for n, h in headers.items()}
        rows: dict[str, list[tuple[Any, ...]]] = {
            t: []
            for t in ("transfers", "rewards", "redemptions", "registrations", "authorizations")
        }
        for x in logs:
            t = x["topics"]
            n = int(x["blockNumber"], 16)
            pos = (x["transactionHash"], int(x["logIndex"], 16), n, ts[n])
            t0 = t[0]
            if t0 == TRANSFER:
                rows["transfers"].append((*pos, checksum(t[1]), checksum(t[2]), int(x["data"], 16)))
            elif t0 == REWARD:
                rows["rewards"].append((*pos, checksum(t[1]), int(x["data"], 16), t[2]))
            elif t0 == REDEEMED:
                rows["redemptions"].append(
                    (int(t[1], 16), checksum(t[2]), int(x["data"], 16), n, ts[n], *pos[:2])
                )
            elif t0 == REGISTERED:
                rows["registrations"].append((*pos, checksum(t[1]), kinds[int(x["data"], 16)]))
            elif t0 in (USED, CANCELED):
                state = "used" if t0 == USED else "canceled"
                rows["authorizations"].append((*pos, checksum(t[1]), t[2], state))
        conn.execute("BEGIN")
        for table, table_rows in rows.items():
            if table_rows:
                marks = ",".join("?" * len(table_rows[0]))
                conn.executemany(f"INSERT OR REPLACE INTO {table} VALUES ({marks})", table_rows)
                written += len(table_rows)
        conn.executemany(
            "INSERT OR REPLACE INTO blocks VALUES (?,?,?,?)",
            [(n, h["hash"], h["parentHash"], ts[n]) for n, h in headers.items()],
        )
        conn.execute(
            "INSERT OR REPLACE INTO checkpoint VALUES (1, ?, ?)", (hi, headers[hi]["hash"])
        )
        conn.execute("COMMIT")
    conn.close()
    return written


def count_rows(path: Path) -> int:
    """Event rows in the mirror file `path`."""
    conn = sqlite3.connect(path)
    try:
        tables = ("transfers", "rewards", "redemptions", "registrations", "authorizations")
        return sum(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables)
    finally:
        conn.close()


def fingerprint(path: Path) -> tuple[Any, ...]:
    """What both runs must agree on: rows per table, sums, the checkpoint block."""
    conn = sqlite3.connect(path)
    try:
        return (
            conn.execute("SELECT COUNT(*), SUM(amount), MAX(to_address) FROM transfers").fetchone(),
            conn.execute("SELECT COUNT(*), SUM(amount), MAX(task_ref) FROM rewards").fetchone(),
            conn.execute("SELECT COUNT(*), MAX(account) FROM registrations").fetchone(),
            conn.execute("SELECT block_number, block_hash FROM checkpoint").fetchone(),
        )
    finally:
        conn.close()
