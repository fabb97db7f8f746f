"""Custodial wallets over HTTP (`domain.wallet`): balance and history (from the SQL mirror),
payments and redemptions (`domain.payments`): 201 means at the confirmation depth on chain,
202 pending with the tx hash."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from api.deps import Ctx, CurrentUser, ShopUser, WalletUser
from api.direct import DirectRoute, Read, ReadRequest, direct, direct_read
from domain import payments, refunds
from domain import wallet as wallets
from domain.schemas import (
    SQL_INT_MAX,
    ErrorPublic,
    HistoryItem,
    PaymentCreate,
    PaymentPublic,
    ReceivedPayment,
    RedemptionCreate,
    RedemptionPublic,
    WalletPublic,
)

router = APIRouter(tags=["wallet"], route_class=DirectRoute)

_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorPublic},
    404: {"model": ErrorPublic},
    409: {"model": ErrorPublic},
    422: {"model": ErrorPublic},
    503: {"model": ErrorPublic},
}


MinBlock = Annotated[
    int | None,
    Query(
        ge=0,
        le=SQL_INT_MAX,
        description="Answer as of this block or later: after a write, its `block_number`. "
        "Waits at most HEITJE_READ_WAIT seconds for the mirror, then 503 `mirror_behind`.",
    ),
]


async def _wallet_read(read: ReadRequest) -> bytes:
    """`wallet`'s JSON, for `FastReads` and the route's `direct` handler (`api.direct`)."""
    min_block = read.query_int("min_block", 0, SQL_INT_MAX)
    ctx = read.context()
    try:
        user = read.caller(ctx)
        if min_block is None:
            model = wallets.balance(ctx, user)
        else:
            model = await run_in_threadpool(wallets.balance, ctx, user, min_block)
    finally:
        ctx.close()
    return model.__pydantic_serializer__.to_json(model)


async def _history_read(read: ReadRequest) -> bytes:
    """`history`'s JSON, for `FastReads` and the route's `direct` handler (`api.direct`)."""
    limit = read.query_int("limit", 1, 500)
    min_block = read.query_int("min_block", 0, SQL_INT_MAX)
    ctx = read.context()
    try:
        user = read.caller(ctx)
        n = 50 if limit is None else limit
        if min_block is None:
            items = wallets.history(ctx, user, n)
        else:
            items = await run_in_threadpool(wallets.history, ctx, user, n, min_block)
    finally:
        ctx.close()
    return b"[" + b",".join(m.__pydantic_serializer__.to_json(m) for m in items) + b"]"


FAST_READS: dict[str, Read] = {"/wallet": _wallet_read, "/wallet/history": _history_read}
"""The reads `api.direct.FastReads` answers before the router (`api.app`)."""


@router.get("/wallet", responses=_ERRORS)
@direct(direct_read(_wallet_read))
async def wallet(user: CurrentUser, ctx: Ctx, min_block: MinBlock = None) -> WalletPublic:
    """The caller's address and balance in HEIT, read from the SQL mirror as of `as_of_block`.
    With `min_block` (after a write: its `block_number`) the answer is as of that block or
    later: the read waits, bounded, for the mirror to reach it.

    Errors: 409 `no_custodial_wallet`; 422 `invalid_request`; 503 `mirror_unavailable`,
    `mirror_behind` (still behind after the wait: retry).
    """
    if min_block is None:  # two indexed reads: answered on the event loop, no thread hand-off
        return wallets.balance(ctx, user)
    return await run_in_threadpool(wallets.balance, ctx, user, min_block)  # may wait


@router.get("/wallet/history", responses=_ERRORS)
@direct(direct_read(_history_read))
async def history(
    user: CurrentUser,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    min_block: MinBlock = None,
) -> list[HistoryItem]:
    """The caller's rewards, payments in and out, and redemptions, newest first (mirror),
    over every address the wallet has had (key rotations move coins, not history).

    `kind`: reward | received | sent | redemption; `counterparty`: a username when
    known; `amount` in HEIT. `min_block` as for `GET /wallet`.

    Errors: 409 `no_custodial_wallet`; 422 `invalid_request`; 503 `mirror_unavailable`,
    `mirror_behind`.
    """
    if min_block is None:  # indexed reads: answered on the event loop (see `wallet`)
        return wallets.history(ctx, user, limit)
    return await run_in_threadpool(wallets.history, ctx, user, limit, min_block)


@router.post(
    "/payments",
    status_code=201,
    responses={**_ERRORS, 202: {"model": PaymentPublic, "description": "pending"}},
)
def pay(
    body: PaymentCreate,
    user: WalletUser,
    ctx: Ctx,
    response: Response,
    idempotency_key: str | None = Header(default=None, max_length=64),
) -> PaymentPublic:
    """Pay `amount` HEIT to `to`: a citizen pays a shop, a shop refunds a citizen.

    Signed as EIP-3009 TransferWithAuthorization with the payer's custodial key (random 32-byte
    nonce, recorded before it is relayed), relayed by the service. 201 `confirmed` once the
    transfer is at the confirmation depth, with its `tx_hash` and `block_number` (read the
    wallet with `min_block` set to it); 202 `pending` with the `tx_hash` when it is not yet:
    retry with the same `Idempotency-Key` (or `GET /payments/{id}`) until it is confirmed.
    A retry with the same key answers the same payment, moved on, or the same refusal; it
    never pays twice. If someone else submitted the signed authorization first, the payment
    is done: its `tx_hash` is theirs.

    A refund (shop to citizen) names the payments it returns in `refund_of` (ids from `GET
    /payments/received`): only that citizen's payments to this shop, at most what is left of
    them in total, taken newest first; the answer's `refund_of` lists the parts.

    Errors: 422 `invalid_amount`; 404 `unknown_account`; 422 `transfer_not_allowed`;
    422 `insufficient_balance`; 409 `shop_not_approved` (a shop an admin has not approved),
    `account_not_ready` (wallet not yet registered on chain); refunds: 422
    `refund_payment_required`, `refund_payment_not_found`, `refund_not_payer`,
    `refund_exceeds_payment`, 409 `refund_payment_pending`; 503 `tx_refused`,
    `chain_unavailable`.
    """
    p = payments.pay(ctx, user, body, idempotency_key)
    if p.status != "confirmed":
        response.status_code = 202
    return p


@router.get("/payments/received", responses=_ERRORS)
def received_payments(
    user: ShopUser,
    ctx: Ctx,
    payer: Annotated[str, Query(min_length=1, max_length=64, description="A citizen's username.")],
) -> list[ReceivedPayment]:
    """Payments the citizen `payer` made to the calling shop (not refused), newest first:
    `id` (what a refund names in `refund_of`), `amount`, `refunded` and `refundable` (what is
    left to refund) in HEIT, `status`, `tx_hash`, `created_at`.

    Errors: 403 `forbidden` (not a shop); 404 `unknown_account`; 422 `invalid_request`.
    """
    return refunds.received_payments(ctx, user, payer)


@router.get("/payments/{payment_id}", responses=_ERRORS)
def get_payment(
    payment_id: Annotated[int, Path(ge=1, le=SQL_INT_MAX)], user: CurrentUser, ctx: Ctx
) -> PaymentPublic:
    """One of the caller's payments, moved on as a retry would: `pending` becomes `confirmed`
    once the transfer is at the confirmation depth.

    Errors: 404 `payment_not_found`; a refused payment answers its refusal (e.g. 422
    `insufficient_balance`).
    """
    return payments.get_payment(ctx, user, payment_id)


@router.post(
    "/redemptions",
    status_code=201,
    responses={**_ERRORS, 202: {"model": RedemptionPublic, "description": "pending"}},
)
def redeem(
    body: RedemptionCreate, ctx: Ctx, user: ShopUser, response: Response
) -> RedemptionPublic:
    """Hand `amount` HEIT back for euros (shops): burned on chain with a redemption id, paid by
    SEPA credit transfer at the next settlement. 201 `confirmed` with the `redemption_id` at
    the confirmation depth; 202 `pending` with the `tx_hash` before.

    Errors: 403 `forbidden` (not a shop); 422 `invalid_amount`, `insufficient_balance`;
    409 `account_not_ready`; 503 `tx_refused`, `chain_unavailable`.
    """
    r = payments.redeem(ctx, user, body)
    if r.status != "confirmed":
        response.status_code = 202
    return r
