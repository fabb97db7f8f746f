"""Auditor views: totals from chain and mirror side by side, the outbox, and the accounts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from api.deps import ChainDep, MirrorDep, SessionDep, role_checker
from heitje.money import format_heit

router = APIRouter(
    prefix="/audit", tags=["audit"], dependencies=[Depends(role_checker("auditor", "finance"))]
)


@router.get("/totals")
def totals(chain: ChainDep, mirror: MirrorDep) -> dict[str, Any]:
    """Total supply, minted and redeemed in HEIT, on chain (latest block) and in the mirror
    (as of its checkpoint), so an auditor sees both at once."""
    token = chain.token
    return {
        "chain": {
            "block": int(chain.w3.eth.block_number),
            "total_supply": format_heit(token.total_supply()),
            "minted": format_heit(token.total_minted()),
            "redeemed": format_heit(token.total_redeemed()),
        },
        "mirror": {
            "block": cp.block_number if (cp := mirror.checkpoint()) else None,
            "total_supply": format_heit(mirror.total_supply()),
        },
    }


@router.get("/intents")
def intents(conn: SessionDep, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Outbox intents (registrations and mints): status, tx hash, attempts, last error."""
    limit = max(1, min(limit, 1000))
    sql = (
        "SELECT i.id, i.kind, u.username, i.account, i.amount, i.ref, i.status, i.tx_hash, "
        "i.attempts, i.last_error, i.created_at FROM intents i JOIN users u ON u.id=i.user_id"
    )
    rows = (
        conn.execute(sql + " WHERE i.status=? ORDER BY i.id DESC LIMIT ?", (status, limit))
        if status
        else conn.execute(sql + " ORDER BY i.id DESC LIMIT ?", (limit,))
    )
    out = []
    for r in rows:
        d = dict(r)
        if d["amount"] is not None and d["kind"] == "mint":
            d["amount"] = format_heit(d["amount"])
        out.append(d)
    return out


@router.get("/accounts")
def accounts(conn: SessionDep, mirror: MirrorDep) -> list[dict[str, Any]]:
    """Every wallet account: username, role, address, balance in the mirror (HEIT)."""
    balances = mirror.balances()
    rows = conn.execute(
        "SELECT username, role, address FROM users WHERE address IS NOT NULL ORDER BY id"
    ).fetchall()
    return [{**dict(r), "balance": format_heit(balances.get(r["address"], 0))} for r in rows]
