"""Refunds: a shop returns a citizen's earlier payments, never more, never to anyone else.

A refund (shop -> citizen, `POST /payments` or, for a shop's own wallet, `POST
/relay/transfer`) names the payments it returns in `refund_of`: ids of payments (`GET
/payments/received`) that this citizen made to this shop. The rules:

- it names at least one payment (`refund_payment_required`);
- each named payment is one the recipient paid to the refunding shop (`refund_payment_not_found`
  when it does not exist, is someone else's shop's or was refused by the chain;
  `refund_not_payer` when the recipient did not make it; `refund_payment_pending` while it is
  not yet confirmed);
- the amount is at most what is left of the named payments: their amounts minus every refund
  part that is confirmed or on its way (`refund_exceeds_payment`).

One request may name several payments: the amount is taken from them newest first (highest
id), each up to what is left of it, and recorded per payment (`store.payments` refund parts) in
the same database transaction as the refund itself, so two concurrent refunds never return
more than was paid. A refund the chain refuses frees its parts again.
"""

from __future__ import annotations

import sqlite3

from domain.context import Caller, Context
from domain.schemas import ReceivedPayment
from heitje.errors import HeitjeError, Refused
from heitje.money import format_heit
from store import accounts, payments


def check_named(
    ctx: Context, shop: Caller, citizen_id: int, refund_of: list[int] | None
) -> list[int]:
    """The distinct payment ids of `refund_of`, each a confirmed payment by `citizen_id` to
    `shop` (a pending one is first followed on the chain, as `GET /payments/{id}` would).

    Errors: 422 `refund_payment_required`, `refund_payment_not_found`, `refund_not_payer`;
    409 `refund_payment_pending`.
    """
    if not refund_of:
        raise Refused(
            422,
            "refund_payment_required",
            "a refund names the payments it returns: `refund_of` with their ids "
            "(GET /payments/received?payer=<username>)",
        )
    ids = sorted(set(refund_of), reverse=True)
    for payment_id in ids:
        row = payments.payment(ctx.db, payment_id)
        if row is None or row["payee_id"] != shop.id or row["status"] == "failed":
            raise Refused(
                422, "refund_payment_not_found", f"{shop.username} received no payment {payment_id}"
            )
        if row["payer_id"] != citizen_id:
            raise Refused(
                422,
                "refund_not_payer",
                f"payment {payment_id} was not made by the account the refund goes to: a refund "
                "goes only to the payer",
            )
        if row["status"] == "pending" and not _settle_pending(ctx, row):
            raise Refused(
                409,
                "refund_payment_pending",
                f"payment {payment_id} is not confirmed yet; retry once it is",
            )
    return ids


def _settle_pending(ctx: Context, row: sqlite3.Row) -> bool:
    """Follow the pending payment `row` on the chain (its payer's view); True once confirmed."""
    from domain.payments import get_payment  # payments calls this module: import late

    payer = accounts.by_id(ctx.db, int(row["payer_id"]))
    if payer is None:
        return False
    caller = Caller(payer["id"], payer["username"], payer["role"], payer["name"], payer["address"])
    try:
        return get_payment(ctx, caller, int(row["id"])).status == "confirmed"
    except HeitjeError:
        return False


def allocate(conn: sqlite3.Connection, ids: list[int], amount: int) -> list[tuple[int, int]]:
    """Split `amount` base units over the payments `ids`, newest first, each up to what is left
    of it; [(payment id, base units)] for the payments it takes from. Run inside the
    transaction that records the refund. Errors: 422 `refund_exceeds_payment`."""
    left = {pid: _amount(conn, pid) - done for pid, done in payments.refunded(conn, ids).items()}
    total = sum(max(0, v) for v in left.values())
    if amount > total:
        named = ", ".join(str(i) for i in sorted(ids))
        raise Refused(
            422,
            "refund_exceeds_payment",
            f"a refund of {format_heit(amount)} HEIT is more than is left to refund of payment(s) "
            f"{named}: {format_heit(total)} HEIT",
        )
    parts: list[tuple[int, int]] = []
    rest = amount
    for pid in sorted(ids, reverse=True):
        take = min(rest, max(0, left[pid]))
        if take > 0:
            parts.append((pid, take))
            rest -= take
        if rest == 0:
            break
    return parts


def _amount(conn: sqlite3.Connection, payment_id: int) -> int:
    row = payments.payment(conn, payment_id)
    return 0 if row is None else int(row["amount"])


def received_payments(ctx: Context, shop: Caller, payer: str) -> list[ReceivedPayment]:
    """Payments the citizen `payer` (username) made to `shop` that were not refused, newest
    first, with what is refunded and what is left to refund (HEIT). The ids are what a refund
    names in `refund_of`.

    Errors: 404 `unknown_account`.
    """
    row = accounts.by_username(ctx.db, payer)
    if row is None:
        raise Refused(404, "unknown_account", f"no account named {payer!r}")
    return [
        ReceivedPayment(
            id=r["id"],
            payer=r["payer"],
            amount=format_heit(r["amount"]),
            refunded=format_heit(r["refunded"]),
            refundable=format_heit(max(0, int(r["amount"]) - int(r["refunded"]))),
            status=r["status"],
            tx_hash=r["tx_hash"],
            created_at=r["created_at"],
        )
        for r in payments.received(ctx.db, shop.id, int(row["id"]))
    ]
