"""Wallets: balance and history (from the SQL mirror), payments and refunds, redemptions, and
relaying for shops with their own wallet.

Payments (citizen -> shop; refunds shop -> citizen) are EIP-3009 `transferWithAuthorization`
signed with the payer's custodial key and relayed by the service, which pays the gas.
Redemptions are the token's `redeemWithAuthorization`, signed by the shop's key. Both wait for
the receipt, so a confirmed answer means the transfer is on chain.
"""

from __future__ import annotations

from domain.context import Caller, Context
from domain.schemas import (
    HistoryItem,
    WalletPublic,
)
from heitje.errors import InvalidInput, Refused
from heitje.money import format_heit
from indexer.errors import IndexerTimeout, MirrorBehind
from indexer.mirror import Mirror
from store import accounts

POLICY = {("citizen", "shop"), ("shop", "citizen")}
"""Who may pay whom: citizens pay shops, shops refund citizens (the token enforces the same)."""

# The mirror's history kinds, as the API documents them.
_HISTORY_KINDS = {"payment_in": "received", "payment_out": "sent"}


def wallet_address(caller: Caller) -> str:
    """The caller's wallet address; 409 `no_custodial_wallet` for accounts without one."""
    if caller.address is None:
        raise Refused(409, "no_custodial_wallet", "this account has no wallet")
    return caller.address


def _mirror_at(ctx: Context, min_block: int | None) -> Mirror:
    """The SQL mirror once its checkpoint reached `min_block` (a block a write of the caller
    was mined in): waits at most `HEITJE_READ_WAIT` seconds, then 503 `mirror_behind`.

    Errors: 422 `invalid_input` (negative block); 503 `mirror_unavailable`, `mirror_behind`.
    """
    mirror = ctx.mirror
    if min_block is None:
        return mirror
    if min_block < 0:
        raise InvalidInput(f"min_block must not be negative, not {min_block}")
    try:
        mirror.wait_until(min_block, timeout=ctx.settings.read_wait)
    except IndexerTimeout:
        have = mirror.checkpoint_block()
        raise MirrorBehind(
            f"the mirror holds blocks through {'none' if have is None else have}, not yet "
            f"block {min_block}, after {ctx.settings.read_wait:g} s; retry"
        ) from None
    return mirror


def balance(ctx: Context, caller: Caller, min_block: int | None = None) -> WalletPublic:
    """The caller's address and balance in HEIT, read from the SQL mirror (`as_of_block`).

    With `min_block`, as of that block or later (`_mirror_at`: read your own writes).
    """
    address = wallet_address(caller)
    mirror = _mirror_at(ctx, min_block)
    cp = mirror.checkpoint()
    return WalletPublic(
        username=caller.username,
        address=address,
        balance=format_heit(mirror.balance(address)),
        as_of_block=cp.block_number if cp else None,
    )


def history(
    ctx: Context, caller: Caller, limit: int = 50, min_block: int | None = None
) -> list[HistoryItem]:
    """The caller's rewards, payments in and out and redemptions, newest first (mirror), over
    every address the wallet has had (key rotations move coins, not history).

    `kind`: reward | received | sent | redemption; `counterparty`: a username when known;
    `amount` in HEIT; `limit` kept in 1..500. With `min_block`, as of that block or later
    (`_mirror_at`).
    """
    wallet_address(caller)
    mirror = _mirror_at(ctx, min_block)
    names = accounts.usernames_by_address(ctx.db)
    own = set(accounts.addresses(ctx.db, caller.id))
    limit = max(1, min(limit, 500))
    entries = [
        h
        for address in own
        for h in mirror.history(address, limit=limit)
        if h.counterparty not in own  # a key rotation moves coins between own addresses
    ]
    entries.sort(key=lambda h: (h.block_number, h.log_index), reverse=True)
    return [
        HistoryItem(
            kind=_HISTORY_KINDS.get(h.kind, h.kind),
            amount=format_heit(h.amount),
            counterparty=names.get(h.counterparty or "", h.counterparty),
            block_number=h.block_number,
            timestamp=h.timestamp,
            tx_hash=h.tx_hash,
        )
        for h in entries[:limit]
    ]


def display_names(ctx: Context) -> dict[str, str]:
    """username -> display name (for pages that show people by name)."""
    return accounts.names_by_username(ctx.db)
