"""Wallets: balance and history (from the SQL mirror), payments and refunds, redemptions, and
relaying for shops with their own wallet.

Payments (citizen -> shop; refunds shop -> citizen) are EIP-3009 `transferWithAuthorization`
signed with the payer's custodial key and relayed by the service, which pays the gas.
Redemptions are the token's `redeemWithAuthorization`, signed by the shop's key. Both wait for
the receipt, so a confirmed answer means the transfer is on chain.
"""

from __future__ import annotations

import sqlite3

from web3 import Web3

from domain.accounts import custodial_key, is_registered, user_by_username
from domain.context import Caller, Context
from domain.schemas import (
    HistoryItem,
    PaymentCreate,
    PaymentPublic,
    RedemptionCreate,
    RedemptionPublic,
    RelayedPublic,
    RelayRedemption,
    RelayTransfer,
    WalletPublic,
)
from heitje.errors import ChainError, InvalidAmount, Refused
from heitje.money import MAX_UNITS, format_heit, parse_heit
from node.token import Authorization
from store import accounts, payments

POLICY = {("citizen", "shop"), ("shop", "citizen")}
"""Who may pay whom: citizens pay shops, shops refund citizens (the token enforces the same)."""

# The mirror's history kinds, as the API documents them.
_HISTORY_KINDS = {"payment_in": "received", "payment_out": "sent"}


def wallet_address(caller: Caller) -> str:
    """The caller's wallet address; 409 `no_custodial_wallet` for accounts without one."""
    if caller.address is None:
        raise Refused(409, "no_custodial_wallet", "this account has no wallet")
    return caller.address


def balance(ctx: Context, caller: Caller) -> WalletPublic:
    """The caller's address and balance in HEIT, read from the SQL mirror (`as_of_block`)."""
    address = wallet_address(caller)
    mirror = ctx.mirror
    cp = mirror.checkpoint()
    return WalletPublic(
        username=caller.username,
        address=address,
        balance=format_heit(mirror.balance(address)),
        as_of_block=cp.block_number if cp else None,
    )


def history(ctx: Context, caller: Caller, limit: int = 50) -> list[HistoryItem]:
    """The caller's rewards, payments in and out and redemptions, newest first (mirror), over
    every address the wallet has had (key rotations move coins, not history).

    `kind`: reward | received | sent | redemption; `counterparty`: a username when known;
    `amount` in HEIT; `limit` kept in 1..500.
    """
    wallet_address(caller)
    names = accounts.usernames_by_address(ctx.db)
    own = set(accounts.addresses(ctx.db, caller.id))
    limit = max(1, min(limit, 500))
    mirror = ctx.mirror
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


def _prior_payment(ctx: Context, caller: Caller, key: str) -> PaymentPublic | None:
    """The payment made earlier with Idempotency-Key `key`; a refused one is refused again."""
    prior = payments.by_idempotency_key(ctx.db, caller.id, key)
    if prior is None:
        return None
    if prior["status"] == "failed":
        raise ChainError(
            f"payment {prior['id']} with this Idempotency-Key was refused: {prior['error_code']}",
            code=prior["error_code"] or "chain_error",
        )
    return PaymentPublic(
        id=prior["id"],
        payer=caller.username,
        payee=prior["payee"],
        amount=format_heit(prior["amount"]),
        status=prior["status"],
        tx_hash=prior["tx_hash"],
    )


def pay(
    ctx: Context, caller: Caller, body: PaymentCreate, idempotency_key: str | None = None
) -> PaymentPublic:
    """Pay `body.amount` HEIT to `body.to`: a citizen pays a shop, a shop refunds a citizen.

    Signed as EIP-3009 TransferWithAuthorization with the payer's custodial key (random 32-byte
    nonce), relayed by the service, confirmed on chain before the answer. With an
    `idempotency_key` a retried request returns the first payment instead of paying again (or,
    when the first was refused, the same refusal).

    Errors: 422 `invalid_amount`, `transfer_not_allowed`, `insufficient_balance` (and other
    contract refusals); 404 `unknown_account`; 409 `account_not_ready` (a wallet not yet
    registered on chain); 503 `tx_timeout`, `tx_refused`.
    """
    if idempotency_key and (prior := _prior_payment(ctx, caller, idempotency_key)) is not None:
        return prior
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
    auth = chain.token.authorize_transfer(custodial_key(ctx, caller.id), payee.address, amount)
    try:
        payment_id = payments.insert_payment(
            ctx.db, caller.id, payee.id, amount, "0x" + auth.nonce.hex(), idempotency_key
        )
    except sqlite3.IntegrityError:
        # A concurrent request with the same Idempotency-Key got in first: answer with it.
        if idempotency_key and (prior := _prior_payment(ctx, caller, idempotency_key)):
            return prior
        raise
    try:
        sent = chain.relayer.send(chain.token.transfer_with_authorization_tx(auth))
        payments.set_payment_tx(ctx.db, payment_id, sent.tx_hash)
        chain.relayer.wait(sent.tx_hash, timeout=ctx.settings.receipt_timeout)
    except ChainError as e:
        if e.code != "tx_timeout":
            payments.fail_payment(ctx.db, payment_id, e.code)
        raise
    payments.confirm_payment(ctx.db, payment_id)
    return PaymentPublic(
        id=payment_id,
        payer=caller.username,
        payee=payee.username,
        amount=format_heit(amount),
        status="confirmed",
        tx_hash=sent.tx_hash,
    )


def redeem(ctx: Context, caller: Caller, body: RedemptionCreate) -> RedemptionPublic:
    """Hand `body.amount` HEIT back for euros (shops): burned on chain with a redemption id,
    paid by SEPA credit transfer at the next settlement.

    Errors: 422 `invalid_amount`, `insufficient_balance`; 409 `account_not_ready`;
    503 `tx_timeout`.
    """
    amount = parse_heit(body.amount)
    if not is_registered(ctx, caller.id):
        raise Refused(409, "account_not_ready", "the wallet is not yet registered on chain")
    chain = ctx.chain
    auth = chain.token.authorize_redemption(custodial_key(ctx, caller.id), amount)
    row_id = payments.insert_redemption(ctx.db, caller.id, amount, "0x" + auth.nonce.hex())
    try:
        sent = chain.relayer.send(chain.token.redeem_with_authorization_tx(auth))
        payments.set_redemption_tx(ctx.db, row_id, sent.tx_hash)
        receipt = chain.relayer.wait(sent.tx_hash, timeout=ctx.settings.receipt_timeout)
    except ChainError as e:
        if e.code != "tx_timeout":
            payments.fail_redemption(ctx.db, row_id, e.code)
        raise
    redemption_id = chain.token.redemption_id_from_receipt(receipt)
    payments.confirm_redemption(ctx.db, row_id, redemption_id)
    return RedemptionPublic(
        redemption_id=redemption_id, amount=format_heit(amount), tx_hash=sent.tx_hash
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
    chain.relayer.wait(sent.tx_hash, timeout=ctx.settings.receipt_timeout)
    return RelayedPublic(tx_hash=sent.tx_hash)


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
        tx_hash=sent.tx_hash, redemption_id=chain.token.redemption_id_from_receipt(receipt)
    )
