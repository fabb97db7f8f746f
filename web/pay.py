"""Paying at a shop: the pay page a shop's QR code opens (`/pay?to=<shop>&amount=<amount>`), a
confirmation step that shows the shop's name and the amount, and the payment itself
(`domain.payments.pay`, relayed by the service); then the wallet as of the payment's block.

Logged out, the pay page is the login form, which comes back to it. Errors are codes
(`ERRORS`), shown next to their field (`FIELD_ERRORS`) with what was typed.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from domain import accounts, payments, sessions, wallet
from domain.context import Caller, Context
from domain.schemas import PaymentCreate
from domain.security import SESSION_COOKIE, csrf_token
from heitje.errors import HeitjeError, InvalidAmount, Refused
from heitje.money import format_heit, parse_typed_heit, units_of
from web.forms import PageCtx, login_page
from web.i18n import N_
from web.templating import language_of, render

router = APIRouter(tags=["pages"], include_in_schema=False)

ERRORS = {
    "insufficient_balance": N_("Your balance is too low."),
    "invalid_amount": N_("Type an amount like 4,50 or 4. Use at most two digits after the comma."),
    "unknown_account": N_("We do not know that shop."),
    "transfer_not_allowed": N_("You can only pay shops."),
    "shop_not_approved": N_("This shop cannot take payments yet. Choose another shop."),
    "account_not_ready": N_("Your account is still being set up. Try again in a moment."),
    "payment_failed": N_("The payment did not work. Try again later."),
    "csrf_failed": N_("The form has expired. Please try again."),
    "choose_shop": N_("Choose a shop."),
}
"""Error code (`/?error=<code>`, or a refusal of the pay form) -> message id of the text a
page shows."""
FIELD_ERRORS = {
    "invalid_amount": "amount",
    "insufficient_balance": "amount",
    "shop_not_approved": "to",
    "unknown_account": "to",
    "choose_shop": "to",
}
"""Error codes shown next to a field of the pay form (and in the summary at the top)."""


def _typed_amount(units: int, language: str) -> str:
    """Base units as people type them in `language`, without thousands separators (so the pay
    form reads them back): 450 -> "4,50" (nl), "4.50" (en)."""
    text = format_heit(units)
    return text.replace(".", ",") if language == "nl" else text


def _pay_href(to: str, amount: str) -> str:
    """The pay page's link for shop `to` and an amount as typed (either may be "")."""
    query = {k: v for k, v in (("to", to), ("amount", amount)) if v}
    return "/pay" + (f"?{urlencode(query)}" if query else "")


def _payee(ctx: Context, to: str) -> tuple[dict[str, str] | None, str | None]:
    """The shop `to` a citizen may pay ({username, name}), or the code of why not
    (`unknown_account`, `shop_not_approved`, `choose_shop` when none is given)."""
    if not to:
        return None, "choose_shop"
    try:
        username, name = wallet.payable_shop(ctx, to)
    except Refused as e:
        return None, e.code if e.code in ERRORS else "unknown_account"
    return {"username": username, "name": name}, None


_PAY_STATUS = {"unknown_account": 404, "shop_not_approved": 409}
"""HTTP status of the pay form shown again with an error (others: 422)."""


def _pay_page(
    request: Request,
    ctx: Context,
    user: Caller,
    token: str,
    *,
    shop: dict[str, str] | None,
    typed: dict[str, str],
    errors: list[str] | None = None,
    status: int | None = None,
) -> HTMLResponse:
    """The pay form: the shop named (when it is one the citizen can pay), else a choice of the
    approved shops; the amount as typed. `errors`: codes of `ERRORS`, each next to its field
    (`FIELD_ERRORS`), the first one also at the top. The status: 200 without errors, else
    that of the first (`_PAY_STATUS`, else 422) unless `status` is given."""
    errors = errors or []
    balance: int | None = None
    try:
        balance = units_of(wallet.balance(ctx, user).balance)
    except HeitjeError:  # the mirror is not there (yet): the form works without the balance
        balance = None
    field_errors: dict[str, str] = {}
    for code in errors:
        field_errors.setdefault(FIELD_ERRORS.get(code, ""), ERRORS[code])
    if status is None:
        status = _PAY_STATUS.get(errors[0], 422) if errors else 200
    return render(
        request,
        "pay.html",
        status,
        title=N_("Pay at a shop"),
        user=user,
        csrf_token=csrf_token(token),
        balance=balance,
        shop=shop,
        shop_options=[(s.username, s.name) for s in accounts.list_shops(ctx)],
        typed=typed,
        error=ERRORS[errors[0]] if errors else None,
        field_errors=field_errors,
        other_shop_href=_pay_href("", typed.get("amount", "")),
    )


def _pay_caller(
    request: Request, ctx: Context, csrf: str | None, back: str
) -> tuple[Caller, str] | Response:
    """The citizen on a pay page (and the session token), or where anyone else goes: the
    login form (then back to `back`), the wallet ("/" says why an account cannot pay). A form
    post (`csrf` given) without a session or with a token that is not the session's: 403
    `csrf_failed` (as every page form)."""
    token = request.cookies.get(SESSION_COOKIE)
    user = sessions.session_caller(ctx, token)
    if csrf is not None and (
        user is None
        or not token
        or not hmac.compare_digest(csrf_token(token).encode(), csrf.encode())
    ):
        raise Refused(403, "csrf_failed", "the form expired; reload the page")
    if user is None or not token:
        return login_page(request, next_path=back)
    if user.role != "citizen" or user.address is None:
        return RedirectResponse("/", status_code=303)
    return user, token


@router.get("/pay", response_class=HTMLResponse)
def pay_form(
    request: Request,
    ctx: PageCtx,
    to: Annotated[str, Query(max_length=200)] = "",
    amount: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """The pay page a shop's QR code opens (`/pay?to=<shop>&amount=<as typed>`, both
    optional): the shop by name and the amount filled in (it can be changed), then "Pay" leads
    to the confirmation (`POST /pay/confirm`). Logged out: the login form, which comes back
    here. A shop that does not exist or is not approved: 404 or 409 with the message, and a
    choice of the shops that are."""
    caller = _pay_caller(request, ctx, None, _pay_href(to, amount))
    if isinstance(caller, Response):
        return caller
    user, token = caller
    shop, error = _payee(ctx, to) if to else (None, None)
    typed = {"to": to if shop else "", "amount": amount}
    return _pay_page(
        request, ctx, user, token, shop=shop, typed=typed, errors=[error] if error else []
    )


@router.post("/pay/confirm", response_class=HTMLResponse)
def pay_confirm(
    request: Request,
    ctx: PageCtx,
    to: Annotated[str, Form(max_length=200)] = "",
    amount: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)] = "",
) -> Response:
    """The confirmation step: the shop's name and the amount, and "Confirm" (`POST /pay`).
    Nothing moves here. The amount as people type it ("4,50", "4.50", "4"); an unknown or
    unapproved shop, a refused amount or one above the balance (as the mirror has it): the pay
    form again with the message next to the field and what was typed."""
    caller = _pay_caller(request, ctx, csrf, _pay_href(to, amount))
    if isinstance(caller, Response):
        return caller
    user, token = caller
    typed = {"to": to, "amount": amount}
    shop, error = _payee(ctx, to)
    errors = [error] if error else []
    units: int | None = None
    try:
        units = parse_typed_heit(amount)
    except InvalidAmount:
        errors.append("invalid_amount")
    if units is not None and not errors:
        try:
            if units > units_of(wallet.balance(ctx, user).balance):
                errors.append("insufficient_balance")
        except HeitjeError:  # no balance to compare with: `POST /pay` checks it
            pass
    if errors or shop is None or units is None:
        return _pay_page(request, ctx, user, token, shop=shop, typed=typed, errors=errors)
    return render(
        request,
        "pay_confirm.html",
        title=N_("Check your payment"),
        user=user,
        csrf_token=csrf_token(token),
        shop=shop,
        units=units,
        amount=format_heit(units),
        key=secrets.token_urlsafe(18),
        change_href=_pay_href(shop["username"], _typed_amount(units, language_of(request))),
    )


@router.post("/pay")
def pay(
    request: Request,
    ctx: PageCtx,
    to: Annotated[str, Form(max_length=200)] = "",
    amount: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)] = "",
    key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Pay a shop, as confirmed (`POST /pay/confirm`). `key` (from the confirmation page) is
    the payment's idempotency key: the same form sent twice pays once. A refusal shows the pay
    form again with the message (next to the amount or the shop where it is about them) and
    what was typed; a payment goes to the wallet page as of the payment's block (`min_block`)
    with the "paid" notice."""
    caller = _pay_caller(request, ctx, csrf, _pay_href(to, amount))
    if isinstance(caller, Response):
        return caller
    user, token = caller
    shop, error = _payee(ctx, to)
    typed = {"to": to, "amount": amount}
    try:
        units = parse_typed_heit(amount)
        typed["amount"] = _typed_amount(units, language_of(request))
        if error is not None:
            return _pay_page(request, ctx, user, token, shop=shop, typed=typed, errors=[error])
        p = payments.pay(ctx, user, PaymentCreate(to=to, amount=format_heit(units)), key or None)
    except InvalidAmount:
        return _pay_page(
            request, ctx, user, token, shop=shop, typed=typed, errors=["invalid_amount"]
        )
    except HeitjeError as e:
        code = e.code if e.code in ERRORS else "payment_failed"
        return _pay_page(
            request, ctx, user, token, shop=shop, typed=typed, errors=[code], status=e.http_status
        )
    query: dict[str, str | int] = {"notice": "paid", "payment": p.id}
    if p.block_number is not None:
        query["min_block"] = p.block_number
    return RedirectResponse(f"/?{urlencode(query)}", status_code=303)
