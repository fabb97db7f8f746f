"""The plain server-rendered wallet pages (Dutch): log in, balance, history, pay a shop.

The HTML face of `domain`: cookie sessions (HttpOnly, SameSite=Lax) and a CSRF token in every
form; the same domain functions as the JSON API (`domain.accounts`, `domain.wallet`).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from domain import accounts, payments, wallet
from domain.context import Caller, Context, Services
from domain.schemas import PaymentCreate
from domain.security import SESSION_COOKIE, csrf_token, session_cookie
from heitje.errors import HeitjeError, Refused
from indexer.errors import MirrorBehind

router = APIRouter(tags=["pages"], include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))

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


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request,
    ctx: PageCtx,
    notice: str | None = None,
    error: str | None = None,
    min_block: int | None = None,
) -> Response:
    """The wallet page, or the login form. `min_block` (set by `/pay`: the payment's block)
    shows the wallet as of that block or later, so a payer never sees the old balance; when
    the mirror does not get there in time, the page says the balance is being updated."""
    token = request.cookies.get(SESSION_COOKIE)
    user = accounts.session_caller(ctx, token)
    if user is None or token is None:
        return _page(request, "login.html", error=error)
    if user.address is None:
        return _page(request, "login.html", error="Dit account heeft geen portemonnee.")
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
        notice=notice,
        error=error,
    )


@router.post("/login")
def login(
    request: Request,
    ctx: PageCtx,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> Response:
    """Form login: sets the session cookie and goes to the wallet."""
    user = accounts.authenticate(ctx, username, password)
    if user is None:
        return _page(
            request,
            "login.html",
            status=401,
            error="Onbekende gebruikersnaam of verkeerd wachtwoord.",
        )
    response = RedirectResponse("/", status_code=303)
    token, ttl = accounts.open_session(ctx, ctx.settings, user.id)
    response.set_cookie(**session_cookie(token, ttl, secure=ctx.settings.cookie_secure))
    return response


def _check_csrf(request: Request, given: str) -> str:
    token = request.cookies.get(SESSION_COOKIE) or ""
    if not token or not hmac.compare_digest(csrf_token(token), given):
        raise Refused(403, "csrf_failed", "the form expired; reload the page")
    return token


@router.post("/logout")
def logout(request: Request, ctx: PageCtx, csrf: Annotated[str, Form()]) -> Response:
    """Form logout."""
    token = _check_csrf(request, csrf)
    accounts.end_session(ctx, token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


_MESSAGES = {
    "insufficient_balance": "Uw saldo is niet hoog genoeg.",
    "invalid_amount": "Vul een bedrag in zoals 4.50 (hoogstens twee cijfers na de punt).",
    "unknown_account": "Die winkel kennen we niet.",
    "transfer_not_allowed": "U kunt alleen bij winkels betalen.",
    "account_not_ready": "Uw portemonnee wordt nog klaargezet. Probeer het zo opnieuw.",
}


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
    user: Caller | None = accounts.session_caller(ctx, token)
    if user is None:
        return RedirectResponse("/", status_code=303)
    try:
        p = payments.pay(ctx, user, PaymentCreate(to=to, amount=amount))
    except HeitjeError as e:
        message = _MESSAGES.get(e.code, e.message)
        return RedirectResponse(f"/?{urlencode({'error': message})}", status_code=303)
    names = wallet.display_names(ctx)
    query: dict[str, str | int] = {
        "notice": f"Betaald: {p.amount} HEIT aan {names.get(p.payee, p.payee)}"
    }
    if p.block_number is not None:
        query["min_block"] = p.block_number
    return RedirectResponse(f"/?{urlencode(query)}", status_code=303)
