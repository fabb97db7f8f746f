"""What auditors and finance officers see in the service: chain and mirror totals side by side,
the outbox, and every wallet account with its balance in the mirror."""

from __future__ import annotations

from typing import Any

from domain.context import Context
from heitje.money import format_heit
from store import accounts, outbox


def totals(ctx: Context) -> dict[str, Any]:
    """Total supply, minted and redeemed in HEIT on chain (latest block), and the mirror's
    supply as of its checkpoint."""
    chain, mirror = ctx.chain, ctx.mirror
    token = chain.token
    cp = mirror.checkpoint()
    return {
        "chain": {
            "block": int(chain.w3.eth.block_number),
            "total_supply": format_heit(token.total_supply()),
            "minted": format_heit(token.total_minted()),
            "redeemed": format_heit(token.total_redeemed()),
        },
        "mirror": {
            "block": cp.block_number if cp else None,
            "total_supply": format_heit(mirror.total_supply()),
        },
    }


def intents(ctx: Context, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Outbox intents newest first: kind, username, account, amount (HEIT for mints), task
    reference, status, tx hash, attempts, last error; `limit` kept in 1..1000."""
    limit = max(1, min(limit, 1000))
    out = []
    for d in outbox.listing(ctx.db, status, limit):
        if d["amount"] is not None and d["kind"] == "mint":
            d["amount"] = format_heit(d["amount"])
        out.append(d)
    return out


def wallet_accounts(ctx: Context) -> list[dict[str, Any]]:
    """Every wallet account: username, role, address, balance in the mirror (HEIT)."""
    balances = ctx.mirror.balances()
    return [
        {**dict(r), "balance": format_heit(balances.get(r["address"], 0))}
        for r in accounts.wallet_accounts(ctx.db)
    ]
