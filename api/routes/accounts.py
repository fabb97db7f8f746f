"""Sign-up of citizens and shops (custodial wallets), staff accounts, the shop list
(`domain.accounts`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import Ctx, role_checker
from domain import accounts
from domain.schemas import (
    AccountPublic,
    CitizenCreate,
    ErrorPublic,
    ShopCreate,
    ShopPublic,
    StaffCreate,
)

router = APIRouter(tags=["accounts"])


@router.post("/citizens", status_code=201, responses={409: {"model": ErrorPublic}})
def sign_up_citizen(body: CitizenCreate, ctx: Ctx) -> AccountPublic:
    """Sign up as a citizen. A custodial key is made (AES-GCM at rest) and its address is
    registered on chain as a citizen by the dispatcher (`registered` turns true in /auth/me).

    Errors: 409 `username_taken`; 422 `invalid_request`.
    """
    return accounts.sign_up_citizen(ctx, body)


@router.post("/shops", status_code=201, responses={409: {"model": ErrorPublic}})
def sign_up_shop(body: ShopCreate, ctx: Ctx) -> AccountPublic:
    """Sign up a shop with the IBAN it is paid on (validated: ISO 13616 checksum and country
    format, via schwifty; spaces removed, upper-cased). A custodial key is made and registered
    on chain as a shop, or, with `address` and `signature`, the shop's own Ethereum wallet
    (non-custodial) is registered once the EIP-191 signature proves it holds that key.

    Errors: 422 `invalid_iban`, `invalid_signature`; 409 `username_taken`, `address_taken`;
    422 `invalid_request`.
    """
    return accounts.sign_up_shop(ctx, body)


@router.post("/staff", status_code=201, dependencies=[Depends(role_checker("admin"))])
def create_staff(body: StaffCreate, ctx: Ctx) -> AccountPublic:
    """Create a coordinator, finance, auditor or admin account (admins only). No wallet.

    Errors: 403 `forbidden`, 409 `username_taken`.
    """
    return accounts.create_staff(ctx, body)


@router.get("/shops")
def list_shops(ctx: Ctx) -> list[ShopPublic]:
    """Shops that take HEIT (username, name, category, address); public."""
    return accounts.list_shops(ctx)
