"""Wallets: balance and history (from the SQL mirror), payments and refunds, redemptions, and
relaying for shops with their own wallet.

Payments (citizen -> shop; refunds shop -> citizen) are EIP-3009 `transferWithAuthorization`
signed with the payer's custodial key and relayed by the service, which pays the gas.
Redemptions are the token's `redeemWithAuthorization`, signed by the shop's key. Both wait for
the receipt, so a confirmed answer means the transfer is on chain.
"""

from __future__ import annotations

from domain.accounts import shop_payable, user_by_username
from domain.context import Caller, Context
from domain.schemas import (
    HistoryItem,
    WalletPublic,
)
from heitje.errors import InvalidInput, Refused
from heitje.money import format_heit
from indexer.errors import IndexerTimeout, MirrorBehind
from indexer.mirror import HistoryEntry, Mirror
from store import accounts, outbox, tasks

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
    return [item for item, _ in _history(ctx, caller, limit, min_block)]


def history_with_titles(
    ctx: Context, caller: Caller, limit: int = 50, min_block: int | None = None
) -> list[tuple[HistoryItem, str | None]]:
    """`history`, each item with the title of the task a reward is for (None for other kinds,
    and for a reward the service did not mint): the reward's on-chain task reference (a hash)
    is matched to the mint intent that carried it, and so to its task.

    Errors as `history`.
    """
    entries = _history(ctx, caller, limit, min_block)
    titles = outbox.task_titles(ctx.db, [h.task_ref for _, h in entries if h.task_ref])
    return [(item, titles.get((h.task_ref or "").lower())) for item, h in entries]


def _history(
    ctx: Context, caller: Caller, limit: int, min_block: int | None
) -> list[tuple[HistoryItem, HistoryEntry]]:
    wallet_address(caller)
    mirror = _mirror_at(ctx, min_block)
    own = set(accounts.addresses(ctx.db, caller.id))
    limit = max(1, min(limit, 500))
    entries = [
        h
        for address in own
        for h in mirror.history(address, limit=limit)
        if h.counterparty not in own  # a key rotation moves coins between own addresses
    ]
    entries.sort(key=lambda h: (h.block_number, h.log_index), reverse=True)
    entries = entries[:limit]
    names = accounts.usernames_of(ctx.db, [h.counterparty for h in entries if h.counterparty])
    return [
        (
            HistoryItem(
                kind=_HISTORY_KINDS.get(h.kind, h.kind),
                amount=format_heit(h.amount),
                counterparty=names.get(h.counterparty or "", h.counterparty),
                block_number=h.block_number,
                timestamp=h.timestamp,
                tx_hash=h.tx_hash,
            ),
            h,
        )
        for h in entries
    ]


def cap_left(ctx: Context, caller: Caller) -> int:
    """Base units of rewards the citizen can still get this calendar year (of `ctx.now`, as
    `domain.tasks.approve` counts it): the yearly cap (`annual_reward_cap`) less the rewards
    approved for the citizen this year; never below 0.

    Errors: 409 `not_a_citizen` for any other account.
    """
    if caller.role != "citizen":
        raise Refused(409, "not_a_citizen", "only citizens earn rewards")
    earned = tasks.approved_rewards(ctx.db, caller.id, ctx.now.year)
    return max(0, ctx.settings.cap_units() - earned)


def payable_shop(ctx: Context, username: str) -> tuple[str, str]:
    """The shop `username` a citizen may pay: (username, display name).

    Errors: 404 `unknown_account` (no such account, or it is no shop); 409 `shop_not_approved`
    (a shop an admin has not approved).
    """
    shop = user_by_username(ctx, username)
    if shop.role != "shop":
        raise Refused(404, "unknown_account", f"no shop named {username!r}")
    if not shop_payable(ctx, shop.id):
        raise Refused(409, "shop_not_approved", f"{shop.username} is not (yet) approved")
    return shop.username, shop.name


def display_names(ctx: Context, usernames: list[str]) -> dict[str, str]:
    """username -> display name of those of `usernames` that are accounts (for pages that show
    people by name)."""
    return accounts.names_by_username(ctx.db, usernames)
