"""Payments, refunds and redemptions relayed for custodial wallets, and relaying for shops with
their own wallet.

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
payment on; it never pays twice and never stays pending without a transaction in flight.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxParams

from domain.accounts import custodial_key, is_registered, user_by_username
from domain.context import Caller, Context
from domain.schemas import (
    PaymentCreate,
    PaymentPublic,
    RedemptionCreate,
    RedemptionPublic,
    RelayedPublic,
    RelayRedemption,
    RelayTransfer,
)
from heitje.errors import ChainError, InvalidAmount, Refused
from heitje.money import MAX_UNITS, format_heit, parse_heit
from node.signer import TxStatus
from node.token import Authorization
from store import payments

log = logging.getLogger("heitje.payments")

# Fault injection for the crash tests only: `HEITJE_CRASH_AT=payment_after_record` makes the
# process exit right after a payment and its nonce were recorded, before anything is relayed.
_CRASH_AT = os.environ.get("HEITJE_CRASH_AT", "")


def _crash_point(name: str) -> None:
    if name == _CRASH_AT:
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
) -> tuple[str, str | None, int | None, str | None]:
    """Move one authorization on until it is final or the receipt timeout passes.

    Returns (state, tx hash, block number, error code): state `confirmed`, `pending` or
    `failed`. `sign_again()` gives the transaction that relays the same authorization again;
    `record_tx(hash)` stores the hash of a transaction that relays it.
    """
    chain = ctx.chain
    relayer = chain.relayer
    deadline = time.monotonic() + ctx.settings.receipt_timeout
    resent = 0
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
        if time.monotonic() > deadline:
            return "pending", tx_hash, None, None
        relayer.tick()
        time.sleep(0.05)


def _payment_public(row: sqlite3.Row, payer: str, block: int | None = None) -> PaymentPublic:
    return PaymentPublic(
        id=row["id"],
        payer=payer,
        payee=row["payee"],
        amount=format_heit(row["amount"]),
        status=row["status"],
        tx_hash=row["tx_hash"],
        block_number=block,
    )


def _move_payment(ctx: Context, caller: Caller, row: sqlite3.Row) -> PaymentPublic:
    """Follow a pending payment (module docstring); a final one is answered as stored, a
    failed one raises its refusal again."""
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
        return _payment_public(row, caller.username, block)
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
    )
    if state == "confirmed":
        payments.confirm_payment(ctx.db, payment_id)
    elif state == "failed":
        payments.fail_payment(ctx.db, payment_id, code or "chain_reverted")
        raise ChainError(f"the chain refused the payment: {code}", code=code or "chain_reverted")
    fresh = payments.payment(ctx.db, payment_id)
    assert fresh is not None
    return _payment_public(fresh, caller.username, block)


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

    Errors: 422 `invalid_amount`, `transfer_not_allowed`, `insufficient_balance` (and other
    contract refusals); 404 `unknown_account`; 409 `account_not_ready` (a wallet not yet
    registered on chain); 503 `tx_refused`, `chain_unavailable`.
    """
    if idempotency_key:
        prior = payments.by_idempotency_key(ctx.db, caller.id, idempotency_key)
        if prior is not None:
            return _move_payment(ctx, caller, _full(ctx, prior["id"]))
    amount = parse_heit(body.amount)
    payee = user_by_username(ctx, body.to)
    if (caller.role, payee.role) not in POLICY:
        raise Refused(
            422,
            "transfer_not_allowed",
            f"a {caller.role} cannot pay a {payee.role}: citizens pay shops, shops refund citizens",
        )
    if not (is_registered(ctx, caller.id) and is_registered(ctx, payee.id)):
        raise Refused(409, "account_not_ready", "a wallet is not yet registered on chain")
    assert payee.address is not None  # registered accounts have one
    chain = ctx.chain
    key = custodial_key(ctx, caller.id)
    auth = chain.token.authorize_transfer(key, payee.address, amount)
    try:
        payment_id = payments.insert_payment(
            ctx.db, caller.id, payee.id, amount, "0x" + auth.nonce.hex(), idempotency_key
        )
    except sqlite3.IntegrityError:
        # A concurrent request with the same Idempotency-Key got in first: follow that one.
        prior = payments.by_idempotency_key(ctx.db, caller.id, idempotency_key or "")
        if prior is None:
            raise
        return _move_payment(ctx, caller, _full(ctx, prior["id"]))
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
    return _move_payment(ctx, caller, row)


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

    def sign_again() -> TxParams:
        again = chain.token.authorize_redemption(key, amount, nonce=auth.nonce)
        return chain.token.redeem_with_authorization_tx(again)

    state, tx_hash, block, code = _follow(
        ctx,
        key,
        auth.nonce,
        None,
        sign_again,
        lambda h: payments.set_redemption_tx(ctx.db, row_id, h),
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


# ----- relaying for shops with their own wallet -----


def _own(caller: Caller, signer: str) -> str:
    if not Web3.is_address(signer) or caller.address != Web3.to_checksum_address(signer):
        raise Refused(403, "not_your_wallet", "the signed payer is not this shop's address")
    return Web3.to_checksum_address(signer)


def _check_units(units: int) -> None:
    if units > MAX_UNITS:
        raise InvalidAmount(f"amount {units} base units is too large")


def _signed(body: RelayTransfer | RelayRedemption, *head: object) -> Authorization:
    """The contract's argument tuple: `head` then validity window, nonce and signature."""
    nonce = bytes.fromhex(body.nonce[2:])
    tail = (
        body.valid_after,
        body.valid_before,
        nonce,
        body.v,
        bytes.fromhex(body.r[2:]),
        bytes.fromhex(body.s[2:]),
    )
    return Authorization(args=(*head, *tail), nonce=nonce)


def relay_transfer(ctx: Context, caller: Caller, body: RelayTransfer) -> RelayedPublic:
    """Relay an EIP-3009 transferWithAuthorization signed by the calling shop's own wallet
    (a refund to a citizen); `value` in base units. Waits for the receipt.

    Errors: 403 `not_your_wallet`; 422 `invalid_request`, `invalid_amount` and the contract's
    refusals; 503 `tx_timeout`.
    """
    payer = _own(caller, body.from_)
    _check_units(body.value)
    if not Web3.is_address(body.to):
        raise Refused(422, "invalid_request", "to: not an address")
    auth = _signed(body, payer, Web3.to_checksum_address(body.to), body.value)
    chain = ctx.chain
    sent = chain.relayer.send(chain.token.transfer_with_authorization_tx(auth))
    receipt = chain.relayer.wait(sent.tx_hash, timeout=ctx.settings.receipt_timeout)
    return RelayedPublic(tx_hash=sent.tx_hash, block_number=int(receipt["blockNumber"]))


def relay_redeem(ctx: Context, caller: Caller, body: RelayRedemption) -> RelayedPublic:
    """Relay a redeemWithAuthorization signed by the calling shop's own wallet; `amount` in
    base units. Errors as `relay_transfer`."""
    shop = _own(caller, body.shop)
    _check_units(body.amount)
    auth = _signed(body, shop, body.amount)
    chain = ctx.chain
    sent = chain.relayer.send(chain.token.redeem_with_authorization_tx(auth))
    receipt = chain.relayer.wait(sent.tx_hash, timeout=ctx.settings.receipt_timeout)
    return RelayedPublic(
        tx_hash=sent.tx_hash,
        redemption_id=chain.token.redemption_id_from_receipt(receipt),
        block_number=int(receipt["blockNumber"]),
    )
