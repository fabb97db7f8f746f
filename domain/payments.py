"""Payments, refunds and redemptions relayed for custodial wallets (refunds name the payments
they return: `domain.refunds`; shops with their own wallet: `domain.relay`).

A payment (citizen -> shop; a refund shop -> citizen) is an EIP-3009
`transferWithAuthorization` signed with the payer's custodial key; a redemption is the token's
`redeemWithAuthorization` signed by the shop's key. The service records the authorization's
nonce before it relays anything, and then only ever follows that one authorization: at most one
authorization with a nonce can be used on chain, so whatever happens (a crash, a lost or
refused broadcast, a reorganisation, someone who submits the signed authorization first) it is
paid at most once. Its truth is the token's `AuthorizationUsed(authorizer, nonce)` event:

- used, at the confirmation depth -> `confirmed`, with the hash of the transaction that used it
  (ours, or a front-runner's);
- used, not yet that deep, or our transaction still in flight -> `pending` with the tx hash;
- not used and our transaction reverted -> `failed` with the contract's reason;
- not used and nothing in flight (a crash before the broadcast, a transaction replaced or
  expired) -> the same authorization (same nonce) is signed again and relayed.

A retry with the same Idempotency-Key (or `GET /payments/{id}`) looks again and moves the
payment on; it never pays twice and never stays pending without a transaction in flight. What
no client follows any more, the service follows itself (`domain.follower`).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable

from eth_account.signers.local import LocalAccount
from web3.types import TxParams

from domain import refunds
from domain.accounts import custodial_key, is_registered, shop_payable, user_by_username
from domain.context import Caller, Context
from domain.schemas import (
    PaymentCreate,
    PaymentPublic,
    RedemptionCreate,
    RedemptionPublic,
    RefundPart,
)
from heitje.errors import ChainError, Refused
from heitje.money import format_heit, parse_heit
from node.signer import TxStatus
from store import payments
from store.db import transaction

log = logging.getLogger("heitje.payments")


def _crash_point(name: str) -> None:
    """Fault injection for the crash tests only: `HEITJE_CRASH_AT=payment_after_record`
    makes the process exit right after a payment and its nonce were recorded, before anything is
    relayed. Read at each point, not at import: a held API child gets its settings late."""
    if name == os.environ.get("HEITJE_CRASH_AT"):
        log.error("crash injected at %s", name)
        os._exit(70)


POLICY = {("citizen", "shop"), ("shop", "citizen")}
"""Who may pay whom: citizens pay shops, shops refund citizens (the token enforces the same)."""

OPEN = ("signed", "sent", "mined")


def _code_of(error: str | None, default: str = "chain_reverted") -> str:
    """The stable code at the front of a journal error (`code: message`)."""
    if not error:
        return default
    head = error.split(":", 1)[0].strip()
    return head if head.replace("_", "").isalnum() else default


def _follow(
    ctx: Context,
    key: LocalAccount,
    nonce: bytes,
    tx_hash: str | None,
    sign_again: Callable[[], TxParams],
    record_tx: Callable[[str], None],
    patience: float | None = None,
) -> tuple[str, str | None, int | None, str | None]:
    """Move one authorization on until it is final or `patience` seconds pass (default: the
    receipt timeout; 0: one look, and a send when nothing relays it).

    Returns (state, tx hash, block number, error code): state `confirmed`, `pending` or
    `failed`. `sign_again()` gives the transaction that relays the same authorization again;
    `record_tx(hash)` stores the hash of a transaction that relays it.
    """
    chain = ctx.chain
    relayer = chain.relayer
    wait = ctx.settings.receipt_timeout if patience is None else patience
    deadline = time.monotonic() + wait
    resent = 0
    pause = FIRST_PAUSE
    while True:
        found = chain.token.authorization_use(key.address, nonce, chain.manifest.deploy_block)
        if found is not None:
            used_by, block = found
            if used_by != tx_hash:
                record_tx(used_by)
                tx_hash = used_by
            head = int(chain.w3.eth.block_number)
            if head - block >= ctx.settings.confirmations:
                return "confirmed", used_by, block, None
        else:
            status: TxStatus | None = relayer.status(tx_hash) if tx_hash else None
            if status is not None and status.state == "reverted":
                # Not used and reverted: the contract refused it (a front-runner's use would
                # have shown above). Final.
                return "failed", tx_hash, status.block_number, _code_of(status.error)
            if status is None or status.state in ("replaced", "failed", "expired", "unknown"):
                if resent >= 3:
                    return (
                        "failed",
                        tx_hash,
                        None,
                        _code_of(status.error if status else None, "tx_refused"),
                    )
                resent += 1
                try:
                    sent = relayer.send(sign_again())
                except ChainError as e:
                    if e.code == "authorization_used":
                        continue  # used meanwhile: the event tells by whom
                    if e.code in ("tx_refused",):
                        return "pending", tx_hash, None, None
                    return "failed", tx_hash, None, e.code
                record_tx(sent.tx_hash)
                tx_hash = sent.tx_hash
                continue  # look at once: a node that mines on arrival (anvil) has mined it
        if time.monotonic() > deadline:
            return "pending", tx_hash, None, None
        relayer.tick()
        time.sleep(pause)
        pause = min(pause * 2, LAST_PAUSE)


FIRST_PAUSE = 0.005
LAST_PAUSE = 0.05
"""The looks of `_follow` at a transaction not yet final: the first after FIRST_PAUSE seconds,
each next after twice as long, at most LAST_PAUSE apart (a block period is 1 s or more)."""


RETRY_PATIENCE = 2.0
"""Longest wait (s) of a retry or a look (`GET /payments/{id}`): it answers what is known and
moves the payment on, then `pending` with the tx hash; the client asks again later (docs/api.md:
client retry rules). Only the first request waits up to the receipt timeout."""


def _retry_patience(ctx: Context) -> float:
    return min(RETRY_PATIENCE, ctx.settings.receipt_timeout)


def _payment_public(
    ctx: Context, row: sqlite3.Row, payer: str, block: int | None = None
) -> PaymentPublic:
    return PaymentPublic(
        id=row["id"],
        payer=payer,
        payee=row["payee"],
        amount=format_heit(row["amount"]),
        status=row["status"],
        tx_hash=row["tx_hash"],
        block_number=block,
        refund_of=[
            RefundPart(payment_id=pid, amount=format_heit(units))
            for pid, units in payments.refund_parts_of(ctx.db, int(row["id"]))
        ],
    )


def _move_payment(
    ctx: Context, caller: Caller, row: sqlite3.Row, patience: float | None = None
) -> PaymentPublic:
    """Follow a pending payment (module docstring) for at most `patience` seconds (`_follow`);
    a final one is answered as stored, a failed one raises its refusal again."""
    if row["status"] == "failed":
        raise ChainError(
            f"payment {row['id']} was refused: {row['error_code']}",
            code=row["error_code"] or "chain_error",
        )
    block: int | None = None
    if row["status"] == "confirmed":
        if row["tx_hash"]:
            used = ctx.chain.token.authorization_use(
                custodial_key(ctx, caller.id).address,
                bytes.fromhex(row["nonce"][2:]),
                ctx.chain.manifest.deploy_block,
            )
            block = used[1] if used else None
        return _payment_public(ctx, row, caller.username, block)
    key = custodial_key(ctx, caller.id)
    nonce = bytes.fromhex(row["nonce"][2:])
    payment_id = int(row["id"])

    def sign_again() -> TxParams:
        auth = ctx.chain.token.authorize_transfer(
            key, row["payee_address"], int(row["amount"]), nonce=nonce
        )
        return ctx.chain.token.transfer_with_authorization_tx(auth)

    state, _, block, code = _follow(
        ctx,
        key,
        nonce,
        row["tx_hash"],
        sign_again,
        lambda h: payments.set_payment_tx(ctx.db, payment_id, h),
        patience,
    )
    if state == "confirmed":
        payments.confirm_payment(ctx.db, payment_id)
    elif state == "failed":
        payments.fail_payment(ctx.db, payment_id, code or "chain_reverted")
        raise ChainError(f"the chain refused the payment: {code}", code=code or "chain_reverted")
    fresh = payments.payment(ctx.db, payment_id)
    assert fresh is not None
    return _payment_public(ctx, fresh, caller.username, block)


def pay(
    ctx: Context, caller: Caller, body: PaymentCreate, idempotency_key: str | None = None
) -> PaymentPublic:
    """Pay `body.amount` HEIT to `body.to`: a citizen pays a shop, a shop refunds a citizen.

    Signed as EIP-3009 TransferWithAuthorization with the payer's custodial key (random 32-byte
    nonce, recorded before anything is relayed) and relayed by the service. Answers `confirmed`
    once the transfer is at the confirmation depth (`HEITJE_CONFIRMATIONS`), else `pending`
    with the tx hash after `HEITJE_RECEIPT_TIMEOUT` seconds. With an `idempotency_key` a
    retried request answers the same payment, moved on (module docstring), or the same
    refusal; it never pays again.

    A refund (shop to citizen) names the payments it returns in `body.refund_of`
    (`domain.refunds`: that citizen's payments to this shop, at most what is left of them,
    taken newest first); the parts are recorded with the refund, in one transaction.

    Errors: 422 `invalid_amount`, `transfer_not_allowed`, `insufficient_balance` (and other
    contract refusals); 404 `unknown_account`; 409 `shop_not_approved` (a shop an admin has not
    approved), `account_not_ready` (a wallet not yet registered on chain); refunds: 422
    `refund_payment_required`, `refund_payment_not_found`, `refund_not_payer`,
    `refund_exceeds_payment`, 409 `refund_payment_pending`; 422 `invalid_request` for
    `refund_of` on a payment that is no refund; 503 `tx_refused`, `chain_unavailable`.
    """
    if idempotency_key:
        prior = payments.by_idempotency_key(ctx.db, caller.id, idempotency_key)
        if prior is not None:
            return _move_payment(ctx, caller, _full(ctx, prior["id"]), _retry_patience(ctx))
    amount = parse_heit(body.amount)
    payee = user_by_username(ctx, body.to)
    if (caller.role, payee.role) not in POLICY:
        raise Refused(
            422,
            "transfer_not_allowed",
            f"a {caller.role} cannot pay a {payee.role}: citizens pay shops, shops refund citizens",
        )
    if not shop_payable(ctx, payee.id):
        raise Refused(
            409, "shop_not_approved", f"{payee.username} is not (yet) approved by the municipality"
        )
    if not (is_registered(ctx, caller.id) and is_registered(ctx, payee.id)):
        raise Refused(409, "account_not_ready", "a wallet is not yet registered on chain")
    assert payee.address is not None  # registered accounts have one
    chain = ctx.chain
    key = custodial_key(ctx, caller.id)
    named: list[int] | None = None
    if caller.role == "shop":
        named = refunds.check_named(ctx, caller, payee.id, body.refund_of)
    elif body.refund_of:
        raise Refused(422, "invalid_request", "`refund_of` is for refunds (a shop to a citizen)")
    auth = chain.token.authorize_transfer(key, payee.address, amount)
    nonce = "0x" + auth.nonce.hex()
    try:
        with transaction(ctx.db):  # what is left to refund is checked and taken at once
            parts = refunds.allocate(ctx.db, named, amount) if named is not None else []
            payment_id = payments.insert_payment(
                ctx.db, caller.id, payee.id, amount, nonce, idempotency_key
            )
            payments.insert_refund_parts(ctx.db, nonce, payment_id, parts)
    except sqlite3.IntegrityError:
        # A concurrent request with the same Idempotency-Key got in first: follow that one.
        prior = payments.by_idempotency_key(ctx.db, caller.id, idempotency_key or "")
        if prior is None:
            raise
        return _move_payment(ctx, caller, _full(ctx, prior["id"]), _retry_patience(ctx))
    _crash_point("payment_after_record")
    try:  # a payment the contract refuses now (balance, policy, pause) is refused, and stays so
        chain.relayer.simulate(chain.token.transfer_with_authorization_tx(auth))
    except ChainError as e:
        payments.fail_payment(ctx.db, payment_id, e.code)
        raise
    return _move_payment(ctx, caller, _full(ctx, payment_id))


def _full(ctx: Context, payment_id: int) -> sqlite3.Row:
    row = payments.payment(ctx.db, payment_id)
    assert row is not None
    return row


def get_payment(ctx: Context, caller: Caller, payment_id: int) -> PaymentPublic:
    """The caller's payment `payment_id`, moved on as a retry would (module docstring).

    Errors: 404 `payment_not_found` (none, or not the caller's); a failed payment answers its
    refusal code.
    """
    row = payments.payment(ctx.db, payment_id)
    if row is None or row["payer_id"] != caller.id:
        raise Refused(404, "payment_not_found", f"you made no payment {payment_id}")
    return _move_payment(ctx, caller, row, _retry_patience(ctx))


def redeem(ctx: Context, caller: Caller, body: RedemptionCreate) -> RedemptionPublic:
    """Hand `body.amount` HEIT back for euros (shops): burned on chain with a redemption id,
    paid by SEPA credit transfer at the next settlement. Followed as a payment is (module
    docstring): `confirmed` with the redemption id at the confirmation depth, else `pending`
    with the tx hash.

    Errors: 422 `invalid_amount`, `insufficient_balance`; 409 `account_not_ready`;
    503 `tx_refused`, `chain_unavailable`.
    """
    amount = parse_heit(body.amount)
    if not is_registered(ctx, caller.id):
        raise Refused(409, "account_not_ready", "the wallet is not yet registered on chain")
    chain = ctx.chain
    key = custodial_key(ctx, caller.id)
    auth = chain.token.authorize_redemption(key, amount)
    row_id = payments.insert_redemption(ctx.db, caller.id, amount, "0x" + auth.nonce.hex())
    try:
        chain.relayer.simulate(chain.token.redeem_with_authorization_tx(auth))
    except ChainError as e:
        payments.fail_redemption(ctx.db, row_id, e.code)
        raise

    row = payments.redemption(ctx.db, row_id)
    assert row is not None
    return _move_redemption(ctx, caller.id, row, None)


def _move_redemption(
    ctx: Context, shop_id: int, row: sqlite3.Row, patience: float | None
) -> RedemptionPublic:
    """Follow a pending redemption request `row` of shop `shop_id` as `_move_payment` does a
    payment. Raises `ChainError` with the contract's reason when the chain refused it."""
    chain = ctx.chain
    key = custodial_key(ctx, shop_id)
    amount = int(row["amount"])
    nonce = bytes.fromhex(row["nonce"][2:])
    row_id = int(row["id"])

    def sign_again() -> TxParams:
        again = chain.token.authorize_redemption(key, amount, nonce=nonce)
        return chain.token.redeem_with_authorization_tx(again)

    state, tx_hash, block, code = _follow(
        ctx,
        key,
        nonce,
        row["tx_hash"],
        sign_again,
        lambda h: payments.set_redemption_tx(ctx.db, row_id, h),
        patience,
    )
    if state == "failed":
        payments.fail_redemption(ctx.db, row_id, code or "chain_reverted")
        raise ChainError(f"the chain refused the redemption: {code}", code=code or "chain_reverted")
    redemption_id = None
    if state == "confirmed" and tx_hash is not None:
        receipt = chain.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        redemption_id = chain.token.redemption_id_from_receipt(receipt)
        payments.confirm_redemption(ctx.db, row_id, redemption_id)
    return RedemptionPublic(
        redemption_id=redemption_id,
        amount=format_heit(amount),
        tx_hash=tx_hash or "",
        block_number=block,
        status=state,
    )


def paid_notice(ctx: Context, caller: Caller, payment_id: int) -> tuple[str, str] | None:
    """(amount in HEIT, payee's username) of the caller's own payment `payment_id` (confirmed
    or on its way), for the page's "paid" notice; None for anyone else's or a refused one (no
    chain read)."""
    row = payments.payment(ctx.db, payment_id)
    if row is None or row["payer_id"] != caller.id or row["status"] == "failed":
        return None
    return format_heit(row["amount"]), str(row["payee"])
