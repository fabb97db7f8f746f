"""Relaying for shops with their own wallet: the shop signs an EIP-3009 transfer (a refund,
which names the payments it returns, `domain.refunds`) or a redemption with its own key; the
service's relayer submits it and pays the gas."""

from __future__ import annotations

import sqlite3
import time

from web3 import Web3

from domain import refunds
from domain.context import Caller, Context
from domain.schemas import RelayedPublic, RelayRedemption, RelayTransfer
from heitje.errors import ChainError, InvalidAmount, Refused
from heitje.money import MAX_UNITS
from node.token import Authorization
from store import accounts, payments
from store.db import transaction


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

    A refund names the payments it returns in `body.refund_of`, as for `pay`
    (`domain.refunds`): `to` must be the current address of the citizen who made them. Its
    parts are recorded before the relay. When the relay ends in an error, the chain is asked
    whether the authorization was used (`AuthorizationUsed`): used, by any transaction (a
    fee-bump twin of the relayer's, or someone who saw it), the refund is confirmed and
    answered with that transaction; unused, the parts are freed only when the relay provably
    never will use it (refused before broadcast, reverted, replaced or expired) and otherwise
    stay counted, as while its outcome is unknown (`tx_timeout`).

    Errors: 403 `not_your_wallet`; 422 `invalid_request`, `invalid_amount`,
    `refund_payment_required`, `refund_payment_not_found`, `refund_not_payer`,
    `refund_exceeds_payment` and the contract's refusals; 409 `refund_payment_pending`;
    503 `tx_timeout`.
    """
    payer = _own(caller, body.from_)
    _check_units(body.value)
    if not Web3.is_address(body.to):
        raise Refused(422, "invalid_request", "to: not an address")
    to = Web3.to_checksum_address(body.to)
    citizen = accounts.by_address(ctx.db, to)
    if citizen is None or citizen["role"] != "citizen":
        raise Refused(
            422, "transfer_not_allowed", f"{to} is no citizen: shops refund citizens only"
        )
    named = refunds.check_named(ctx, caller, int(citizen["id"]), body.refund_of)
    auth = _signed(body, payer, to, body.value)
    nonce = body.nonce.lower()
    try:
        with transaction(ctx.db):
            parts = refunds.allocate(ctx.db, named, body.value)
            payments.insert_refund_parts(ctx.db, nonce, None, parts)
    except sqlite3.IntegrityError:
        raise Refused(
            422, "authorization_used", "this authorization (nonce) was relayed before"
        ) from None
    chain = ctx.chain
    relayed = False  # a transaction carrying the authorization may have reached the node
    try:
        sent = chain.relayer.send(chain.token.transfer_with_authorization_tx(auth))
        relayed = True
        receipt = chain.relayer.wait(sent.tx_hash, timeout=ctx.settings.receipt_timeout)
    except ChainError as e:
        if e.code == "tx_timeout":  # outcome unknown: the parts stay counted (pending)
            raise
        used = _authorization_use(ctx, payer, auth.nonce)
        if used is not None:  # e.g. a fee-bump twin or someone else used it: refunded
            payments.set_refund_status(ctx.db, nonce, "confirmed")
            return RelayedPublic(tx_hash=used[0], block_number=used[1])
        if not relayed or e.code in FINAL_UNUSED:  # provably never used: the parts are free
            payments.set_refund_status(ctx.db, nonce, "failed")
        raise
    payments.set_refund_status(ctx.db, nonce, "confirmed")
    return RelayedPublic(tx_hash=sent.tx_hash, block_number=int(receipt["blockNumber"]))


FINAL_UNUSED = frozenset({"tx_reverted", "tx_replaced", "tx_expired"})
"""`Signer.wait` errors after which no transaction of the relayer can carry the authorization
any more (reverted; or its nonce taken by a twin or a cancel): unused on chain, it never will
be by this relay."""


def _authorization_use(ctx: Context, payer: str, nonce: bytes) -> tuple[str, int] | None:
    """(tx hash, block) of the transaction that used `payer`'s authorization `nonce`, once it
    is at the confirmation depth; None when it is unused. Raises `ChainError` `tx_timeout`
    while its use is not yet deep enough after the receipt timeout (the parts stay counted)."""
    chain = ctx.chain
    deadline = time.monotonic() + ctx.settings.receipt_timeout
    while True:
        found = chain.token.authorization_use(payer, nonce, chain.manifest.deploy_block)
        if found is None:
            return None
        if int(chain.w3.eth.block_number) - found[1] >= ctx.settings.confirmations:
            return found
        if time.monotonic() > deadline:
            raise ChainError(
                f"the refund is in block {found[1]}, not yet confirmed", code="tx_timeout"
            )
        time.sleep(0.2)


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
