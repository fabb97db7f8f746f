"""Relaying for shops with their own wallet (non-custodial): the shop signs, the service pays gas.

A shop that registered its own Ethereum address signs EIP-3009 `TransferWithAuthorization`
(refunds to citizens) or the token's `RedeemWithAuthorization` with its own key, in its own
wallet, and posts the signature here; the relayer submits it and waits for the receipt. The
signed payer must be the calling shop's address. EIP-2612 `permit` is on the token as well, for
wallets that prefer it; it needs no relaying by this service.
"""

from __future__ import annotations

from fastapi import APIRouter
from web3 import Web3

from api.deps import ChainDep, SettingsDep, ShopUser
from api.errors import ApiError
from api.schemas import ErrorPublic, RelayedPublic, RelayRedemption, RelayTransfer
from heitje.errors import InvalidAmount
from heitje.money import MAX_UNITS
from node.token import Authorization

router = APIRouter(prefix="/relay", tags=["relay"])

_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorPublic},
    422: {"model": ErrorPublic},
    503: {"model": ErrorPublic},
}


def _own(user_address: str | None, signer: str) -> str:
    if not Web3.is_address(signer) or user_address != Web3.to_checksum_address(signer):
        raise ApiError(403, "not_your_wallet", "the signed payer is not this shop's address")
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


@router.post("/transfer", status_code=201, responses=_ERRORS)
def relay_transfer(
    body: RelayTransfer, user: ShopUser, chain: ChainDep, settings: SettingsDep
) -> RelayedPublic:
    """Relay an EIP-3009 transferWithAuthorization signed by the calling shop's own wallet
    (a refund to a citizen). `value` in base units. Waits for the receipt.

    Errors: 403 `forbidden` (not a shop), `not_your_wallet`; 422 `insufficient_balance`,
    `transfer_not_allowed`, `invalid_signature`, `authorization_used`, `authorization_expired`,
    `authorization_not_yet_valid`, `invalid_amount`; 503 `tx_timeout`.
    """
    payer = _own(user.address, body.from_)
    _check_units(body.value)
    if not Web3.is_address(body.to):
        raise ApiError(422, "invalid_request", "to: not an address")
    auth = _signed(body, payer, Web3.to_checksum_address(body.to), body.value)
    sent = chain.relayer.send(chain.token.transfer_with_authorization_tx(auth))
    chain.relayer.wait(sent.tx_hash, timeout=settings.receipt_timeout)
    return RelayedPublic(tx_hash=sent.tx_hash)


@router.post("/redeem", status_code=201, responses=_ERRORS)
def relay_redeem(
    body: RelayRedemption, user: ShopUser, chain: ChainDep, settings: SettingsDep
) -> RelayedPublic:
    """Relay a redeemWithAuthorization signed by the calling shop's own wallet: the HEIT are
    burned and paid in euros at the next settlement. `amount` in base units.

    Errors: 403 `forbidden`, `not_your_wallet`; 422 `insufficient_balance`,
    `invalid_signature`, `authorization_used`, `authorization_expired`, `invalid_amount`;
    503 `tx_timeout`.
    """
    shop = _own(user.address, body.shop)
    _check_units(body.amount)
    auth = _signed(body, shop, body.amount)
    sent = chain.relayer.send(chain.token.redeem_with_authorization_tx(auth))
    receipt = chain.relayer.wait(sent.tx_hash, timeout=settings.receipt_timeout)
    return RelayedPublic(
        tx_hash=sent.tx_hash, redemption_id=chain.token.redemption_id_from_receipt(receipt)
    )
