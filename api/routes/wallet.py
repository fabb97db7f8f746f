"""Custodial wallets: balance and history (from the SQL mirror), payments and redemptions.

Payments (citizen -> shop, refunds shop -> citizen) are EIP-3009 `transferWithAuthorization`
signed with the payer's custodial key and relayed by the service, which pays the gas.
Redemptions are the token's `redeemWithAuthorization`, signed by the shop's key. Both wait for
the receipt, so a 201 means the transfer is on chain.
"""

from __future__ import annotations

import sqlite3

from fastapi import APIRouter, Header

from api.accounts import account_addresses, custodial_key, is_registered, now_iso, user_by_username
from api.deps import (
    ChainDep,
    CurrentUser,
    MirrorDep,
    SessionDep,
    SettingsDep,
    ShopUser,
    User,
)
from api.errors import ApiError
from api.schemas import (
    ErrorPublic,
    HistoryItem,
    PaymentCreate,
    PaymentPublic,
    RedemptionCreate,
    RedemptionPublic,
    WalletPublic,
)
from heitje.errors import ChainError
from heitje.money import format_heit, parse_heit

router = APIRouter(tags=["wallet"])

_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorPublic},
    404: {"model": ErrorPublic},
    409: {"model": ErrorPublic},
    422: {"model": ErrorPublic},
    503: {"model": ErrorPublic},
}
_POLICY = {("citizen", "shop"), ("shop", "citizen")}
# The mirror's history kinds, as the API documents them.
_HISTORY_KINDS = {"payment_in": "received", "payment_out": "sent"}


def _wallet_user(user: User) -> str:
    if user.address is None:
        raise ApiError(409, "no_custodial_wallet", "this account has no wallet")
    return user.address


@router.get("/wallet", responses=_ERRORS)
def wallet(user: CurrentUser, mirror: MirrorDep) -> WalletPublic:
    """The caller's address and balance in HEIT, read from the SQL mirror."""
    address = _wallet_user(user)
    return WalletPublic(
        username=user.username,
        address=address,
        balance=format_heit(mirror.balance(address)),
        as_of_block=cp.block_number if (cp := mirror.checkpoint()) else None,
    )


@router.get("/wallet/history", responses=_ERRORS)
def history(
    user: CurrentUser, mirror: MirrorDep, conn: SessionDep, limit: int = 50
) -> list[HistoryItem]:
    """The caller's rewards, payments in and out, and redemptions, newest first (mirror),
    over every address the wallet has had (key rotations move coins, not history).

    `kind`: reward | received | sent | redemption; `counterparty`: a username when
    known; `amount` in HEIT.
    """
    _wallet_user(user)
    names = {
        r["address"]: r["username"]
        for r in conn.execute(
            "SELECT a.address, u.username FROM account_addresses a JOIN users u ON u.id = a.user_id"
        )
    }
    own = set(account_addresses(conn, user.id))
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


def _record_failure(conn: sqlite3.Connection, table: str, row_id: int, code: str) -> None:
    conn.execute(f"UPDATE {table} SET status='failed', error_code=? WHERE id=?", (code, row_id))


def _prior_payment(conn: sqlite3.Connection, user: User, key: str) -> PaymentPublic | None:
    """The payment made earlier with Idempotency-Key `key`; a refused one is refused again."""
    prior = conn.execute(
        "SELECT p.*, u.username AS payee FROM payments p JOIN users u ON u.id = p.payee_id "
        "WHERE p.payer_id=? AND p.idempotency_key=?",
        (user.id, key),
    ).fetchone()
    if prior is None:
        return None
    if prior["status"] == "failed":
        raise ChainError(
            f"payment {prior['id']} with this Idempotency-Key was refused: {prior['error_code']}",
            code=prior["error_code"] or "chain_error",
        )
    return PaymentPublic(
        id=prior["id"],
        payer=user.username,
        payee=prior["payee"],
        amount=format_heit(prior["amount"]),
        status=prior["status"],
        tx_hash=prior["tx_hash"],
    )


@router.post("/payments", status_code=201, responses=_ERRORS)
def pay(
    body: PaymentCreate,
    user: CurrentUser,
    conn: SessionDep,
    chain: ChainDep,
    settings: SettingsDep,
    idempotency_key: str | None = Header(default=None, max_length=64),
) -> PaymentPublic:
    """Pay `amount` HEIT to `to`: a citizen pays a shop, a shop refunds a citizen.

        Signed as EIP-3009 TransferWithAuthorization with the payer's custodial key (random 32-byte
        nonce), relayed by the service, confirmed on chain before the answer. With an
        `Idempotency-Key` header a retried request returns the first payment instead of paying again
    (or, when the first was refused, the same refusal).

        Errors: 422 `invalid_amount`; 404 `unknown_account`; 422 `transfer_not_allowed`;
        422 `insufficient_balance`; 409 `account_not_ready` (wallet not yet registered on chain);
        503 `tx_timeout`.
    """
    if idempotency_key and (prior := _prior_payment(conn, user, idempotency_key)) is not None:
        return prior
    amount = parse_heit(body.amount)
    payee = user_by_username(conn, body.to)
    if (user.role, payee["role"]) not in _POLICY:
        raise ApiError(
            422,
            "transfer_not_allowed",
            f"a {user.role} cannot pay a {payee['role']}: citizens pay shops, "
            "shops refund citizens",
        )
    if not (is_registered(conn, user.id) and is_registered(conn, payee["id"])):
        raise ApiError(409, "account_not_ready", "a wallet is not yet registered on chain")
    key = custodial_key(conn, settings.key_encryption_key(), user.id)
    auth = chain.token.authorize_transfer(key, payee["address"], amount)
    try:
        cur = conn.execute(
            "INSERT INTO payments (payer_id, payee_id, amount, nonce, idempotency_key, status, "
            "created_at) VALUES (?,?,?,?,?,'pending',?)",
            (user.id, payee["id"], amount, "0x" + auth.nonce.hex(), idempotency_key, now_iso()),
        )
    except sqlite3.IntegrityError:
        # A concurrent request with the same Idempotency-Key got in first: answer with it.
        if idempotency_key and (prior := _prior_payment(conn, user, idempotency_key)):
            return prior
        raise
    payment_id = int(cur.lastrowid or 0)
    try:
        sent = chain.relayer.send(chain.token.transfer_with_authorization_tx(auth))
        conn.execute("UPDATE payments SET tx_hash=? WHERE id=?", (sent.tx_hash, payment_id))
        chain.relayer.wait(sent.tx_hash, timeout=settings.receipt_timeout)
    except ChainError as e:
        if e.code != "tx_timeout":
            _record_failure(conn, "payments", payment_id, e.code)
        raise
    conn.execute("UPDATE payments SET status='confirmed' WHERE id=?", (payment_id,))
    return PaymentPublic(
        id=payment_id,
        payer=user.username,
        payee=payee["username"],
        amount=format_heit(amount),
        status="confirmed",
        tx_hash=sent.tx_hash,
    )


@router.post("/redemptions", status_code=201, responses=_ERRORS)
def redeem(
    body: RedemptionCreate, conn: SessionDep, chain: ChainDep, settings: SettingsDep, user: ShopUser
) -> RedemptionPublic:
    """Hand `amount` HEIT back for euros (shops): burned on chain with a redemption id, paid by
    SEPA credit transfer at the next settlement.

    Errors: 403 `forbidden` (not a shop); 422 `invalid_amount`, `insufficient_balance`;
    409 `account_not_ready`; 503 `tx_timeout`.
    """
    amount = parse_heit(body.amount)
    if not is_registered(conn, user.id):
        raise ApiError(409, "account_not_ready", "the wallet is not yet registered on chain")
    key = custodial_key(conn, settings.key_encryption_key(), user.id)
    auth = chain.token.authorize_redemption(key, amount)
    cur = conn.execute(
        "INSERT INTO redemption_requests (shop_id, amount, nonce, status, created_at) "
        "VALUES (?,?,?,'pending',?)",
        (user.id, amount, "0x" + auth.nonce.hex(), now_iso()),
    )
    row_id = int(cur.lastrowid or 0)
    try:
        sent = chain.relayer.send(chain.token.redeem_with_authorization_tx(auth))
        conn.execute("UPDATE redemption_requests SET tx_hash=? WHERE id=?", (sent.tx_hash, row_id))
        receipt = chain.relayer.wait(sent.tx_hash, timeout=settings.receipt_timeout)
    except ChainError as e:
        if e.code != "tx_timeout":
            _record_failure(conn, "redemption_requests", row_id, e.code)
        raise
    redemption_id = chain.token.redemption_id_from_receipt(receipt)
    conn.execute(
        "UPDATE redemption_requests SET status='confirmed', redemption_id=? WHERE id=?",
        (redemption_id, row_id),
    )
    return RedemptionPublic(
        redemption_id=redemption_id, amount=format_heit(amount), tx_hash=sent.tx_hash
    )
