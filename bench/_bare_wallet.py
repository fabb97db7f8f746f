"""The baseline of `wallet_reads.py`: a bare ASGI app (no framework, no dependency injection,
no thread pool) serving `GET /wallet` and `GET /wallet/history` with the same SQL as Heitje's
API on the same data directory: the session lookup (`store.sessions.session_user`), the
mirror's checkpoint, balance and history (`indexer.mirror.Mirror`), the account's addresses
and the names of the counterparties shown (`store.accounts`). One connection to each file,
opened once.

Run by `wallet_reads.py` as `uvicorn bench._bare_wallet:app` (HEITJE_DATA_DIR set), on the same
server options as the API.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from heitje.datadir import DataDir
from heitje.money import format_heit
from indexer.mirror import Mirror
from store import accounts
from store.db import connect
from store.sessions import session_user

DATA = DataDir(Path(os.environ.get("HEITJE_DATA_DIR", "data")))
_db = connect(DATA.service_db)
_mirror = Mirror(DATA.mirror_db)
_KINDS = {"payment_in": "received", "payment_out": "sent"}

Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _answer(send: Send, status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(data)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _user(scope: dict[str, Any]) -> sqlite3.Row | None:
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            digest = hashlib.sha256(value[7:].strip()).hexdigest()
            return session_user(_db, digest, time.time())
    return None


def _wallet(user: sqlite3.Row) -> dict[str, Any]:
    cp = _mirror.checkpoint()
    return {
        "username": user["username"],
        "address": user["address"],
        "balance": format_heit(_mirror.balance(user["address"])),
        "as_of_block": cp.block_number if cp else None,
    }


def _history(user: sqlite3.Row, limit: int = 50) -> list[dict[str, Any]]:
    own = set(accounts.addresses(_db, user["id"]))
    entries = [h for a in own for h in _mirror.history(a, limit=limit) if h.counterparty not in own]
    entries.sort(key=lambda h: (h.block_number, h.log_index), reverse=True)
    entries = entries[:limit]
    names = accounts.usernames_of(_db, [h.counterparty for h in entries if h.counterparty])
    return [
        {
            "kind": _KINDS.get(h.kind, h.kind),
            "amount": format_heit(h.amount),
            "counterparty": names.get(h.counterparty or "", h.counterparty),
            "block_number": h.block_number,
            "timestamp": h.timestamp,
            "tx_hash": h.tx_hash,
        }
        for h in entries
    ]


async def app(scope: dict[str, Any], receive: Any, send: Send) -> None:
    if scope["type"] != "http":
        return
    user = _user(scope)
    if user is None:
        await _answer(send, 401, {"code": "unauthorized"})
    elif scope["path"] == "/wallet":
        await _answer(send, 200, _wallet(user))
    elif scope["path"] == "/wallet/history":
        await _answer(send, 200, _history(user))
    else:
        await _answer(send, 404, {"code": "not_found"})
