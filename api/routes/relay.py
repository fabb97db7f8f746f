"""Relaying for shops with their own wallet (non-custodial): the shop signs, the service pays gas.

A shop that registered its own Ethereum address signs EIP-3009 `TransferWithAuthorization`
(refunds to citizens) or the token's `RedeemWithAuthorization` with its own key, in its own
wallet, and posts the signature here; the relayer submits it and waits for the receipt. The
signed payer must be the calling shop's address. EIP-2612 `permit` is on the token as well, for
wallets that prefer it; it needs no relaying by this service.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Ctx, ShopUser
from domain import relay
from domain.schemas import ErrorPublic, RelayedPublic, RelayRedemption, RelayTransfer

router = APIRouter(prefix="/relay", tags=["relay"])

_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorPublic},
    422: {"model": ErrorPublic},
    503: {"model": ErrorPublic},
}


@router.post("/transfer", status_code=201, responses={**_ERRORS, 409: {"model": ErrorPublic}})
def relay_transfer(body: RelayTransfer, user: ShopUser, ctx: Ctx) -> RelayedPublic:
    """Relay an EIP-3009 transferWithAuthorization signed by the calling shop's own wallet
    (a refund to a citizen). `value` in base units. Waits for the receipt. A refund names the
    payments it returns in `refund_of` (ids from `GET /payments/received`), as for `POST
    /payments`: `to` is the current address of the citizen who made them, at most what is left
    of them in total.

    Errors: 403 `forbidden` (not a shop), `not_your_wallet`; 422 `insufficient_balance`,
    `transfer_not_allowed`, `invalid_signature`, `authorization_used`, `authorization_expired`,
    `authorization_not_yet_valid`, `invalid_amount`, `refund_payment_required`,
    `refund_payment_not_found`, `refund_not_payer`, `refund_exceeds_payment`; 409
    `refund_payment_pending`; 503 `tx_timeout`.
    """
    return relay.relay_transfer(ctx, user, body)


@router.post("/redeem", status_code=201, responses=_ERRORS)
def relay_redeem(body: RelayRedemption, user: ShopUser, ctx: Ctx) -> RelayedPublic:
    """Relay a redeemWithAuthorization signed by the calling shop's own wallet: the HEIT are
    burned and paid in euros at the next settlement. `amount` in base units.

    Errors: 403 `forbidden`, `not_your_wallet`; 422 `insufficient_balance`,
    `invalid_signature`, `authorization_used`, `authorization_expired`, `invalid_amount`;
    503 `tx_timeout`.
    """
    return relay.relay_redeem(ctx, user, body)
