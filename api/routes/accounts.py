"""Sign-up of citizens and shops (custodial wallets), staff accounts, the shop list
(`domain.accounts`)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import AdminUser, Ctx
from domain import accounts, sessions
from domain.context import Context
from domain.schemas import (
    AccountPublic,
    CitizenCreate,
    ErrorPublic,
    ShopApplication,
    ShopCreate,
    ShopPublic,
    SignedUp,
    StaffCreate,
)

router = APIRouter(tags=["accounts"])


def _logged_in(ctx: Context, account: AccountPublic) -> SignedUp:
    """`account`, just signed up, with a new session of it (as `POST /auth/token` opens one
    with the password just chosen: the client needs no log-in, and no second argon2 check).
    The bearer token is in the body only; no cookie is set."""
    user = accounts.user_by_username(ctx, account.username)
    token, ttl = sessions.open_session(ctx, ctx.settings, user.id)
    return SignedUp(**account.model_dump(), access_token=token, expires_in=ttl)


@router.post(
    "/citizens",
    status_code=201,
    responses={409: {"model": ErrorPublic}, 429: {"model": ErrorPublic}},
)
def sign_up_citizen(body: CitizenCreate, request: Request, ctx: Ctx) -> SignedUp:
    """Sign up as a citizen. A custodial key is made (AES-GCM at rest) and its address is
    registered on chain as a citizen by the dispatcher, batched with other sign-ups
    (`registered` turns true in /auth/me). Throttled per client address (an IPv6 client by its
    /64) and in all, per hour, together with shop sign-ups (`HEITJE_SIGNUP_PER_ADDRESS_PER_HOUR`,
    `HEITJE_SIGNUP_PER_HOUR`).

    The answer carries a session of the new account: `access_token` (send as `Authorization:
    Bearer ...`), `token_type` and `expires_in` (seconds), as `POST /auth/token` gives; no
    cookie is set. Logging in with the password works as before.

    Errors: 409 `username_taken`; 422 `invalid_request`; 429 `signup_throttled` (with
    `Retry-After` in seconds).
    """
    client = request.client.host if request.client else ""
    return _logged_in(ctx, accounts.sign_up_citizen(ctx, body, client))


@router.post(
    "/shops",
    status_code=201,
    responses={409: {"model": ErrorPublic}, 429: {"model": ErrorPublic}},
)
def sign_up_shop(body: ShopCreate, request: Request, ctx: Ctx) -> SignedUp:
    """Sign up a shop with the IBAN it is paid on (validated: ISO 13616 checksum and country
    format, via schwifty; spaces removed, upper-cased). A custodial key is made, or, with
    `address` and `signature`, the shop's own Ethereum wallet (non-custodial) is used once the
    EIP-191 signature proves it holds that key. The shop is `pending` until an admin approves
    it (`POST /admin/shops/{username}/approve`): before that it is not registered on chain, not
    listed in `GET /shops` and not payable (409 `shop_not_approved`).

    Throttled per client address and in all, per hour, together with citizen sign-ups
    (`HEITJE_SIGNUP_PER_ADDRESS_PER_HOUR`, `HEITJE_SIGNUP_PER_HOUR`).

    The answer carries a session of the new (pending) shop, as for `POST /citizens`:
    `access_token`, `token_type`, `expires_in`; logging in with the password works as before.

    Errors: 422 `invalid_iban`, `invalid_signature`; 409 `username_taken`, `address_taken`;
    422 `invalid_request`; 429 `signup_throttled` (with `Retry-After` in seconds).
    """
    client = request.client.host if request.client else ""
    return _logged_in(ctx, accounts.sign_up_shop(ctx, body, client))


@router.post("/staff", status_code=201)
def create_staff(body: StaffCreate, admin: AdminUser, ctx: Ctx) -> AccountPublic:
    """Create a coordinator, finance, auditor or admin account (admins only). No wallet.

    Errors: 403 `forbidden`, 409 `username_taken`.
    """
    return accounts.create_staff(ctx, body, admin)


_STAFF_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorPublic},
    409: {"model": ErrorPublic},
}


@router.post("/staff/{username}/disable", status_code=204, responses=_STAFF_ERRORS)
def disable_staff(username: str, admin: AdminUser, ctx: Ctx) -> None:
    """Disable a staff account (admins only): it cannot log in (403 `account_disabled`) and
    every session of it ends at once. Idempotent; an admin cannot disable themselves, nor the
    last enabled admin.

    Errors: 401 `unauthorized`; 403 `forbidden`, `csrf_failed`; 404 `unknown_account`; 409
    `not_staff`, `cannot_disable_self`, `last_admin`.
    """
    sessions.set_staff_disabled(ctx, username, True, caller=admin)


@router.post("/staff/{username}/enable", status_code=204, responses=_STAFF_ERRORS)
def enable_staff(username: str, admin: AdminUser, ctx: Ctx) -> None:
    """Enable a disabled staff account again (admins only); it logs in anew. Idempotent.

    Errors: 401 `unauthorized`; 403 `forbidden`, `csrf_failed`; 404 `unknown_account`; 409
    `not_staff`.
    """
    sessions.set_staff_disabled(ctx, username, False, caller=admin)


@router.get("/shops")
def list_shops(ctx: Ctx) -> list[ShopPublic]:
    """Shops that take HEIT (approved by an admin: username, name, category, address);
    public."""
    return accounts.list_shops(ctx)


@router.get("/admin/shops", responses={422: {"model": ErrorPublic}})
def shop_applications(
    ctx: Ctx, admin: AdminUser, status: str | None = "pending"
) -> list[ShopApplication]:
    """Shop applications, oldest first (admins only): by default the `pending` ones; `status`
    pending | approved | rejected, or `all`.

    Errors: 401 `unauthorized`; 403 `forbidden`; 422 `invalid_status`.
    """
    return accounts.shop_applications(ctx, None if status == "all" else status)


_REVIEW_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorPublic},
    409: {"model": ErrorPublic},
}


@router.post("/admin/shops/{username}/approve", responses=_REVIEW_ERRORS)
def approve_shop(username: str, ctx: Ctx, admin: AdminUser) -> ShopApplication:
    """Approve a pending shop (admins only): its wallet is registered on chain as a shop
    through the outbox (`registered` in /auth/me turns true), it is listed in `GET /shops`
    and citizens can pay it.

    Errors: 401 `unauthorized`; 403 `forbidden`, `csrf_failed`; 404 `unknown_shop`; 409
    `shop_not_pending`.
    """
    return accounts.review_shop(ctx, admin, username, approve=True)


@router.post("/admin/shops/{username}/reject", responses=_REVIEW_ERRORS)
def reject_shop(username: str, ctx: Ctx, admin: AdminUser) -> ShopApplication:
    """Reject a pending shop (admins only): it is never registered, listed or payable.

    Errors: 401 `unauthorized`; 403 `forbidden`, `csrf_failed`; 404 `unknown_shop`; 409
    `shop_not_pending`.
    """
    return accounts.review_shop(ctx, admin, username, approve=False)
