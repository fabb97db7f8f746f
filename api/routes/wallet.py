"""Custodial wallets over HTTP (`domain.wallet`): balance and history (from the SQL mirror),
payments and redemptions. Both writes wait for the receipt, so a 201 means it is on chain."""

from __future__ import annotations

from fastapi import APIRouter, Header

from api.deps import Ctx, CurrentUser, ShopUser
from domain import wallet as wallets
from domain.schemas import (
    ErrorPublic,
    HistoryItem,
    PaymentCreate,
    PaymentPublic,
    RedemptionCreate,
    RedemptionPublic,
    WalletPublic,
)

router = APIRouter(tags=["wallet"])

_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorPublic},
    404: {"model": ErrorPublic},
    409: {"model": ErrorPublic},
    422: {"model": ErrorPublic},
    503: {"model": ErrorPublic},
}


@router.get("/wallet", responses=_ERRORS)
def wallet(user: CurrentUser, ctx: Ctx) -> WalletPublic:
    """The caller's address and balance in HEIT, read from the SQL mirror."""
    return wallets.balance(ctx, user)


@router.get("/wallet/history", responses=_ERRORS)
def history(user: CurrentUser, ctx: Ctx, limit: int = 50) -> list[HistoryItem]:
    """The caller's rewards, payments in and out, and redemptions, newest first (mirror),
    over every address the wallet has had (key rotations move coins, not history).

    `kind`: reward | received | sent | redemption; `counterparty`: a username when
    known; `amount` in HEIT.
    """
    return wallets.history(ctx, user, limit)


@router.post("/payments", status_code=201, responses=_ERRORS)
def pay(
    body: PaymentCreate,
    user: CurrentUser,
    ctx: Ctx,
    idempotency_key: str | None = Header(default=None, max_length=64),
) -> PaymentPublic:
    """Pay `amount` HEIT to `to`: a citizen pays a shop, a shop refunds a citizen.

    Signed as EIP-3009 TransferWithAuthorization with the payer's custodial key (random 32-byte
    nonce), relayed by the service, confirmed on chain before the answer. With an
    `Idempotency-Key` header a retried request returns the first payment instead of paying
    again (or, when the first was refused, the same refusal).

    Errors: 422 `invalid_amount`; 404 `unknown_account`; 422 `transfer_not_allowed`;
    422 `insufficient_balance`; 409 `account_not_ready` (wallet not yet registered on chain);
    503 `tx_timeout`.
    """
    return wallets.pay(ctx, user, body, idempotency_key)


@router.post("/redemptions", status_code=201, responses=_ERRORS)
def redeem(body: RedemptionCreate, ctx: Ctx, user: ShopUser) -> RedemptionPublic:
    """Hand `amount` HEIT back for euros (shops): burned on chain with a redemption id, paid by
    SEPA credit transfer at the next settlement.

    Errors: 403 `forbidden` (not a shop); 422 `invalid_amount`, `insufficient_balance`;
    409 `account_not_ready`; 503 `tx_timeout`.
    """
    return wallets.redeem(ctx, user, body)
