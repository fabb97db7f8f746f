"""The shop's home page: balance, the payment QR code, incoming payments, redemptions and
the export form (rendered by `web.shop`, and again by a refused form of its own)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import segno
from fastapi import Request
from fastapi.responses import HTMLResponse

from domain import accounts, payments, shops, wallet
from domain.context import Caller, Context
from domain.security import csrf_token
from heitje.errors import InvalidAmount, Refused
from heitje.money import format_heit, parse_typed_heit, units_of
from indexer.errors import MirrorBehind
from web import i18n
from web._shop_common import ERRORS, error_texts
from web.i18n import N_
from web.templating import coins, language_of, render

NOTICES = {
    "welcome": N_("Your shop is signed up."),
    "refunded": N_("Paid back: %(amount)s."),
    "redeemed": N_("Exchanged: %(amount)s. The municipality pays the euros to your bank account."),
}
"""Notice code (`/shop?notice=`) -> message id."""

REDEMPTION_STATES = {
    "processing": N_("Being processed"),
    "waiting": N_("Waiting: not yet in a payment file for the bank"),
    "in_file": N_("In payment file %(file)s, to be paid on %(day)s"),
    "paid": N_("Paid on %(day)s"),
}
"""A redemption's state (`domain.shops.RedemptionStatus`) -> message id."""


def origin(request: Request, ctx: Context) -> str:
    """The origin links in QR codes point to: `public_origin` (https behind a proxy), else the
    request's own."""
    own = ctx.settings.public_origin.strip().rstrip("/")
    return own or str(request.base_url).rstrip("/")


def pay_link(origin: str, shop: str, units: int | None) -> str:
    """The citizen's pay page for `shop` (username), with `amount` (base units, written as
    "4.50") when given: what the shop's QR code holds."""
    query: dict[str, str] = {"to": shop}
    if units is not None:
        query["amount"] = format_heit(units)
    return f"{origin}/pay?{urlencode(query)}"


def qr_svg(link: str, title: str, scale: int) -> str:
    """`link` as a QR code (error correction M), inline SVG with `title`, `scale` px a module
    (sized by CSS)."""
    return segno.make(link, error="m").svg_inline(scale=scale, omitsize=True, title=title)


def typed_amount(amount: str | None) -> tuple[int | None, str | None]:
    """(base units, error code) of an amount typed at the counter; (None, None) for none."""
    if amount is None or not amount.strip():
        return None, None
    try:
        return parse_typed_heit(amount), None
    except InvalidAmount:
        return None, "invalid_amount"


def incoming(ctx: Context, shop: Caller) -> list[dict[str, Any]]:
    """The shop's last 50 incoming payments as the payments table shows them."""
    return [
        {
            "id": p.id,
            "payer": p.payer_name,
            "units": p.amount,
            "refunded": p.refunded,
            "refundable": p.refundable,
            "pending": p.status == "pending",
            "at": p.at,
        }
        for p in shops.incoming_payments(ctx, shop, limit=50)
    ]


def _redemptions(ctx: Context, shop: Caller, language: str) -> list[dict[str, Any]]:
    out = []
    for r in shops.redemption_statuses(ctx, shop, limit=50):
        text = i18n.gettext(language, REDEMPTION_STATES[r.state])
        if r.state == "in_file":
            day = i18n.format_day(r.execution_date, language) if r.execution_date else "?"
            text = text % {"file": r.file_name or r.batch_id or "?", "day": day}
        elif r.state == "paid":
            day = i18n.format_day(r.paid_on, language) if r.paid_on else "?"
            text = text % {"day": day}
        out.append({"units": r.amount, "at": r.at, "state": r.state, "text": text})
    return out


def _notice(
    ctx: Context, shop: Caller, notice: str | None, payment: int | None, language: str
) -> str | None:
    """The text of notice `notice` in `language`; its amount from the database (the shop's
    own refund `payment`, or its newest exchange), never from the URL; None when unknown."""
    if notice not in NOTICES:
        return None
    text = i18n.gettext(language, NOTICES[notice])
    units: int | None = None
    if notice == "refunded" and payment is not None:
        paid = payments.paid_notice(ctx, shop, payment)
        units = None if paid is None else units_of(paid[0])
    elif notice == "redeemed":
        newest = shops.redemption_statuses(ctx, shop, limit=1)
        units = newest[0].amount if newest else None
    elif "%(amount)s" not in text:
        return text
    return None if units is None else text % {"amount": coins(units, language)}


def home_page(
    request: Request,
    ctx: Context,
    shop: Caller,
    token: str,
    *,
    amount: str | None = None,
    notice: str | None = None,
    notice_payment: int | None = None,
    status: int = 200,
    field_errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    error: str | None = None,
) -> HTMLResponse:
    """The shop's home page (`web.shop.home`): `amount` typed for the QR code, `notice` a
    code (`NOTICES`), `field_errors` field -> error code, `typed` what a refused form held,
    `error` a code shown at the top."""
    language = language_of(request)
    approved = accounts.shop_payable(ctx, shop.id)
    errors = dict(field_errors or {})
    units, amount_error = typed_amount(amount)
    if amount_error:
        errors["qr_amount"] = amount_error
    balance: int | None = None
    try:
        balance = units_of(wallet.balance(ctx, shop).balance)
    except (MirrorBehind, Refused):
        balance = None
    link = pay_link(origin(request, ctx), shop.username, units)
    return render(
        request,
        "shop/home.html",
        status,
        title=N_("Your shop"),
        user=shop,
        csrf_token=csrf_token(token),
        approved=approved,
        declined=None if approved else accounts.decline_reason(ctx, shop.id),
        balance=balance,
        link=link,
        qr=qr_svg(link, shop.name, 5) if approved else "",
        qr_amount=units,
        qr_amount_text=format_heit(units) if units else "",
        payments=incoming(ctx, shop) if approved else [],
        redemptions=_redemptions(ctx, shop, language) if approved else [],
        notice=_notice(ctx, shop, notice, notice_payment, language),
        typed={"qr_amount": amount or "", **(typed or {})},
        field_errors=error_texts(request, errors),
        error=ERRORS.get(error or ""),
        today=datetime.now(shops.TIMEZONE).date().isoformat(),
    )
