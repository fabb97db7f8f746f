"""The shop's pages: sign-up, the shop's home (balance, payment QR code, incoming payments that
update by themselves, redemptions and where each is), the printable A4 poster, refunding a
chosen payment, redeeming coins for euros, and the bookkeeper's CSV export.

The same domain functions as the JSON API (`domain.accounts.sign_up_shop`, `domain.payments`
`pay` with `refund_of` and `redeem`) plus the shop's own reads (`domain.shops`). Every form that
posts carries a CSRF token (the sign-up form, before any session, a double-submit cookie as the
login form has); errors show next to their field with what was typed (never a password), and a
refused form changes nothing.

The sign-up page is `web._shop_signup`, the CSV export `web._shop_export`, the home page's
rendering `web._shop_home` and what they share `web._shop_common`; `router` holds them all.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from domain import accounts, payments, sessions, shops
from domain.context import Caller, Context
from domain.schemas import PaymentCreate, RedemptionCreate
from domain.security import SESSION_COOKIE, csrf_token
from heitje.errors import HeitjeError, InvalidAmount, Refused
from heitje.money import format_heit, parse_typed_heit
from web import _shop_export, _shop_signup
from web._shop_common import ERRORS, check_csrf, error_texts, not_a_shop, shop_session
from web._shop_home import home_page, incoming, origin, pay_link, qr_svg, typed_amount
from web.forms import PageCtx
from web.i18n import N_
from web.templating import language_of, render

__all__ = ["pay_link", "router"]

router = APIRouter(tags=["shop pages"], include_in_schema=False)
router.include_router(_shop_signup.router)
router.include_router(_shop_export.router)


@router.get("/shop", response_class=HTMLResponse)
def home(
    request: Request,
    ctx: PageCtx,
    amount: str | None = None,
    notice: str | None = None,
    payment: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    """The shop's home: approval status, balance, the payment QR code (with the amount typed
    at the counter, `amount`: "4,50", "4.50", "4"), incoming payments (each with a refund
    button), redeeming and the redemptions, the CSV export. `notice` is a code (`NOTICES`;
    `refunded` shows the shop's own refund `payment`, its amount from the database). Not a
    shop: the home page."""
    signed_in = shop_session(request, ctx)
    if signed_in is None:
        return not_a_shop()
    shop, token = signed_in
    if amount is not None and len(amount) > 64:
        amount = amount[:64]
    status = 422 if typed_amount(amount)[1] else 200
    return home_page(
        request,
        ctx,
        shop,
        token,
        amount=amount,
        notice=notice,
        notice_payment=payment,
        status=status,
    )


@router.get("/shop/payments", response_class=HTMLResponse)
def payments_fragment(request: Request, ctx: PageCtx) -> Response:
    """The incoming payments table alone (what the shop's home page reloads every 5 s; htmx
    swaps nothing on an error). Errors: 401 `unauthorized` without a session, 403 `forbidden`
    for anyone but a shop."""
    signed_in = shop_session(request, ctx)
    if signed_in is None:
        if sessions.session_caller(ctx, request.cookies.get(SESSION_COOKIE)) is None:
            raise Refused(401, "unauthorized", "log in as a shop")
        raise Refused(403, "forbidden", "only shops have this page")
    shop, token = signed_in
    return render(
        request,
        "shop/payments.html",
        payments=incoming(ctx, shop) if accounts.shop_payable(ctx, shop.id) else [],
        csrf_token=csrf_token(token),
    )


@router.get("/shop/poster", response_class=HTMLResponse)
def poster(request: Request, ctx: PageCtx, amount: str | None = None) -> Response:
    """A printable A4 poster: the shop's name, a big payment QR code (with `amount` when
    given) and how to scan it, in Dutch and English."""
    signed_in = shop_session(request, ctx)
    if signed_in is None:
        return not_a_shop()
    shop, token = signed_in
    units, amount_error = typed_amount(amount[:64] if amount else amount)
    link = pay_link(origin(request, ctx), shop.username, units)
    return render(
        request,
        "shop/poster.html",
        422 if amount_error else 200,
        title=N_("Poster"),
        user=shop,
        csrf_token=csrf_token(token),
        approved=accounts.shop_payable(ctx, shop.id),
        qr=qr_svg(link, shop.name, 12),
        link=link,
        qr_amount=units,
        error=ERRORS.get(amount_error or ""),
    )


# ----- refunds -----


def _typable(units: int, language: str) -> str:
    """Base units as a person would type them in `language`: "1275,50" (nl), "1275.50" (en);
    no thousands separator, so the form takes it back as it is."""
    text = format_heit(units)
    return text.replace(".", ",") if language == "nl" else text


def _refund_page(
    request: Request,
    ctx: Context,
    shop: Caller,
    token: str,
    payment_id: int,
    *,
    typed: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    try:
        p = shops.incoming_payment(ctx, shop, payment_id)
    except Refused:
        return RedirectResponse("/shop", status_code=303)
    on_field = error in ("invalid_amount", "refund_exceeds_payment", "insufficient_balance")
    field_error = error_texts(request, {"amount": error or ""}).get("amount") if on_field else None
    return render(
        request,
        "shop/refund.html",
        status,
        title=N_("Pay back"),
        user=shop,
        csrf_token=csrf_token(token),
        payment={
            "id": p.id,
            "payer": p.payer_name,
            "units": p.amount,
            "refunded": p.refunded,
            "refundable": p.refundable,
            "at": p.at,
        },
        typed=typed if typed is not None else _typable(p.refundable, language_of(request)),
        refund_key=secrets.token_urlsafe(18),
        field_error=field_error,
        error=None if field_error else ERRORS.get(error or ""),
    )


@router.get("/shop/refund/{payment_id}", response_class=HTMLResponse)
def refund_form(request: Request, ctx: PageCtx, payment_id: int) -> Response:
    """Confirm paying back (part of) a payment: the payer, the amount paid, what is left to
    pay back, and the amount (all that is left unless changed)."""
    signed_in = shop_session(request, ctx)
    if signed_in is None or not 1 <= payment_id <= 2**63 - 1:
        return not_a_shop()
    shop, token = signed_in
    return _refund_page(request, ctx, shop, token, payment_id)


@router.post("/shop/refund/{payment_id}")
def refund(
    request: Request,
    ctx: PageCtx,
    payment_id: int,
    amount: Annotated[str, Form(max_length=64)],
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)],
    key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Pay back `amount` ("4,50", "4.50", "4") of the payment to its payer: a refund naming
    that payment (`domain.payments.pay` with `refund_of`; never more than is left of it).
    `key` (new on each refund page) is the refund's idempotency key: the form sent twice (a
    double click) pays back once. Refused: the confirm page again with the message next to
    the amount."""
    token = check_csrf(request, csrf)
    shop = sessions.session_caller(ctx, token)
    if shop is None or shop.role != "shop" or not 1 <= payment_id <= 2**63 - 1:
        return not_a_shop()
    try:
        p = shops.incoming_payment(ctx, shop, payment_id)
    except Refused:
        return RedirectResponse("/shop", status_code=303)
    try:
        units = parse_typed_heit(amount)
        paid = payments.pay(
            ctx,
            shop,
            PaymentCreate(to=p.payer, amount=format_heit(units), refund_of=[p.id]),
            f"refund-page-{key}" if key else None,
        )
    except InvalidAmount:
        return _refund_page(
            request, ctx, shop, token, payment_id, typed=amount, error="invalid_amount", status=422
        )
    except HeitjeError as e:
        code = e.code if e.code in ERRORS else "failed"
        return _refund_page(
            request, ctx, shop, token, payment_id, typed=amount, error=code, status=e.http_status
        )
    query = urlencode({"notice": "refunded", "payment": paid.id})
    return RedirectResponse(f"/shop?{query}", status_code=303)


# ----- redeeming -----


@router.post("/shop/redeem")
def redeem(
    request: Request,
    ctx: PageCtx,
    amount: Annotated[str, Form(max_length=64)],
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)],
) -> Response:
    """Exchange `amount` coins ("4,50", "4.50", "4") for euros (`domain.payments.redeem`):
    burned now, paid by bank transfer at the next settlement. Refused: the shop's home again
    with the message next to the amount."""
    token = check_csrf(request, csrf)
    shop = sessions.session_caller(ctx, token)
    if shop is None or shop.role != "shop" or shop.address is None:
        return not_a_shop()
    typed = {"redeem_amount": amount}
    try:
        if not accounts.shop_payable(ctx, shop.id):
            raise Refused(409, "shop_not_approved", "not approved yet")
        units = parse_typed_heit(amount)
        payments.redeem(ctx, shop, RedemptionCreate(amount=format_heit(units)))
    except HeitjeError as e:
        code = e.code if e.code in ERRORS else "failed"
        on_field = code in ("invalid_amount", "insufficient_balance")
        return home_page(
            request,
            ctx,
            shop,
            token,
            status=e.http_status,
            field_errors={"redeem_amount": code} if on_field else None,
            error=None if on_field else code,
            typed=typed,
        )
    return RedirectResponse("/shop?notice=redeemed", status_code=303)
