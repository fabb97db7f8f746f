"""The plain server-rendered wallet pages (Dutch): log in, balance, history, pay a shop.

The HTML face of `domain`: cookie sessions (HttpOnly, SameSite=Lax) and a CSRF token in every
form (a synchronizer token derived from the session; on the login form, before any session, a
double-submit cookie); the same domain functions as the JSON API (`domain.accounts`,
`domain.wallet`). Messages on a page come from fixed lists of codes (`ERRORS`, `NOTICES`):
a query string names a code, never the text, and an unknown code shows nothing.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from domain import accounts, payments, sessions, wallet
from domain.context import Caller, Context, Services
from domain.schemas import PaymentCreate
from domain.security import SESSION_COOKIE, csrf_token, session_cookie
from heitje.errors import HeitjeError, Refused, Throttled
from indexer.errors import MirrorBehind

router = APIRouter(tags=["pages"], include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
STATIC_DIR = Path(__file__).resolve().parent / "static"
"""The pages' static files (served at `/static`): the style sheet, no scripts."""

LOGIN_CSRF_COOKIE = "heitje_login_csrf"
"""The double-submit cookie of the login form (login CSRF, before any session exists)."""

ERRORS = {
    "insufficient_balance": "Uw saldo is niet hoog genoeg.",
    "invalid_amount": "Vul een bedrag in zoals 4.50 (hoogstens twee cijfers na de punt).",
    "unknown_account": "Die winkel kennen we niet.",
    "transfer_not_allowed": "U kunt alleen bij winkels betalen.",
    "account_not_ready": "Uw portemonnee wordt nog klaargezet. Probeer het zo opnieuw.",
    "payment_failed": "De betaling is niet gelukt. Probeer het later opnieuw.",
}
"""Error code (`/?error=<code>`) -> the text the wallet page shows (Dutch)."""

LOGIN_ERRORS = {
    "no_wallet": "Dit account heeft geen portemonnee.",
    "invalid_credentials": "Onbekende gebruikersnaam of verkeerd wachtwoord.",
    "account_disabled": "Dit account is uitgeschakeld. Vraag de beheerder om hulp.",
    "csrf_failed": "Het formulier is verlopen. Probeer het opnieuw.",
    "login_throttled": "Te vaak een verkeerd wachtwoord. Probeer het over {wait} seconden opnieuw.",
}
"""Refusal code -> the text the login form shows (Dutch; `{wait}`: seconds)."""

NOTICES = {
    "paid": "Betaald: {amount} HEIT aan {payee}",
}
"""Notice code -> the text a page shows; its values come from the database, never the URL."""

_LABELS = {
    "reward": ("Beloning", "+"),
    "received": ("Ontvangen", "+"),
    "sent": ("Betaald", "-"),
    "redemption": ("Ingewisseld", "-"),
}


def _context(request: Request) -> Iterator[Context]:
    services: Services = request.app.state.services
    ctx = services.context(datetime.now(UTC))
    try:
        yield ctx
    finally:
        ctx.close()


PageCtx = Annotated[Context, Depends(_context)]


def _page(request: Request, name: str, status: int = 200, **ctx: object) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, {"title": "Portemonnee", "user": None, **ctx}, status_code=status
    )


def _login_page(request: Request, error: str | None = None, status: int = 200) -> HTMLResponse:
    """The login form with its CSRF token (kept from the cookie, or new and set)."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    fresh = len(token) < 22
    if fresh:
        token = secrets.token_urlsafe(24)
    response = _page(request, "login.html", status, error=error, login_csrf=token)
    if fresh:
        settings = request.app.state.services.settings
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            httponly=True,
            secure=settings.cookie_secure,
            samesite="strict",
        )
    return response


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request,
    ctx: PageCtx,
    notice: str | None = None,
    error: str | None = None,
    payment: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    min_block: int | None = None,
) -> Response:
    """The wallet page, or the login form. `error` and `notice` are codes (`ERRORS`,
    `NOTICES`; an unknown one shows nothing); `notice=paid` shows the caller's own payment
    `payment`. `min_block` (set by `/pay`: the payment's block) shows the wallet as of that
    block or later, so a payer never sees the old balance; when the mirror does not get there
    in time, the page says the balance is being updated."""
    token = request.cookies.get(SESSION_COOKIE)
    user = sessions.session_caller(ctx, token)
    if user is None or token is None:
        return _login_page(request)
    if user.address is None:
        return _login_page(request, LOGIN_ERRORS["no_wallet"])
    error_text = ERRORS.get(error or "")
    notice_text: str | None = None
    if notice == "paid" and payment is not None:
        paid = payments.paid_notice(ctx, user, payment)
        if paid is not None:
            amount, payee = paid
            names = wallet.display_names(ctx)
            notice_text = NOTICES["paid"].format(amount=amount, payee=names.get(payee, payee))
    if min_block is not None and min_block < 0:
        min_block = None
    balance: str | None = None
    items = []
    try:
        balance = wallet.balance(ctx, user, min_block).balance
        names = wallet.display_names(ctx)
        for h in wallet.history(ctx, user, limit=50, min_block=min_block):
            label, sign = _LABELS.get(h.kind, (h.kind, ""))
            who = names.get(h.counterparty or "", h.counterparty)
            items.append({"label": label, "sign": sign, "amount": h.amount, "counterparty": who})
    except MirrorBehind:  # not there yet: say so rather than show the balance before the payment
        balance, items = None, []
    qr = segno.make(f"heitje:{user.username}").svg_inline(scale=4) if user.role == "shop" else ""
    return _page(
        request,
        "wallet.html",
        user=user,
        csrf=csrf_token(token),
        balance=balance,
        history=items,
        shops=accounts.list_shops(ctx),
        qr=qr,
        notice=notice_text,
        error=error_text,
    )


@router.post("/login")
def login(
    request: Request,
    ctx: PageCtx,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Form login: sets the session cookie and goes to the wallet. The form's CSRF token
    must equal its double-submit cookie (login CSRF), else 403 and the form again. Throttled
    as `POST /auth/token` (429 with Retry-After and the wait in the message); 401 wrong
    password, 403 disabled account: the form again with the message."""
    given = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if not given or not hmac.compare_digest(given.encode(), csrf.encode()):
        return _login_page(request, LOGIN_ERRORS["csrf_failed"], status=403)
    client = request.client.host if request.client else None
    try:
        _, token, ttl = sessions.log_in(ctx, username, password, client)
    except Throttled as e:
        text = LOGIN_ERRORS["login_throttled"].format(wait=e.retry_after)
        page = _login_page(request, text, e.http_status)
        page.headers["Retry-After"] = str(e.retry_after)
        return page
    except Refused as e:
        text = LOGIN_ERRORS.get(e.code, LOGIN_ERRORS["invalid_credentials"])
        return _login_page(request, text, e.http_status)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(**session_cookie(token, ttl, secure=ctx.settings.cookie_secure))
    return response


def _check_csrf(request: Request, given: str) -> str:
    token = request.cookies.get(SESSION_COOKIE) or ""
    if not token or not hmac.compare_digest(csrf_token(token).encode(), given.encode()):
        raise Refused(403, "csrf_failed", "the form expired; reload the page")
    return token


@router.post("/logout")
def logout(request: Request, ctx: PageCtx, csrf: Annotated[str, Form()]) -> Response:
    """Form logout: ends this session only (as `POST /auth/logout`)."""
    token = _check_csrf(request, csrf)
    sessions.end_session(ctx, token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/pay")
def pay(
    request: Request,
    ctx: PageCtx,
    to: Annotated[str, Form()],
    amount: Annotated[str, Form()],
    csrf: Annotated[str, Form()],
) -> Response:
    """Form payment to a shop; shows the outcome on the wallet page, as of the payment's block
    (`min_block`)."""
    token = _check_csrf(request, csrf)
    user: Caller | None = sessions.session_caller(ctx, token)
    if user is None:
        return RedirectResponse("/", status_code=303)
    try:
        p = payments.pay(ctx, user, PaymentCreate(to=to, amount=amount))
    except HeitjeError as e:
        code = e.code if e.code in ERRORS else "payment_failed"
        return RedirectResponse(f"/?{urlencode({'error': code})}", status_code=303)
    query: dict[str, str | int] = {"notice": "paid", "payment": p.id}
    if p.block_number is not None:
        query["min_block"] = p.block_number
    return RedirectResponse(f"/?{urlencode(query)}", status_code=303)
