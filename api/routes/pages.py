"""The plain server-rendered wallet pages (Dutch): log in, balance, history, pay a shop.

Cookie sessions (HttpOnly, SameSite=Lax) and a CSRF token in every form.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from hexbytes import HexBytes

from api.accounts import authenticate, open_session
from api.chain import ChainService
from api.deps import (
    SESSION_COOKIE,
    ChainDep,
    MirrorDep,
    SessionDep,
    SettingsDep,
    user_for_token,
)
from api.errors import ApiError
from api.routes.accounts import list_shops
from api.routes.wallet import history as wallet_history
from api.routes.wallet import pay as wallet_pay
from api.schemas import PaymentCreate
from api.security import csrf_token, token_hash
from heitje.errors import HeitjeError
from heitje.money import format_heit
from indexer.mirror import Mirror

router = APIRouter(tags=["pages"], include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parents[1] / "templates"))

_LABELS = {
    "reward": ("Beloning", "+"),
    "received": ("Ontvangen", "+"),
    "sent": ("Betaald", "-"),
    "redemption": ("Ingewisseld", "-"),
}


def _page(request: Request, name: str, status: int = 200, **ctx: object) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, {"title": "Portemonnee", "user": None, **ctx}, status_code=status
    )


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request,
    conn: SessionDep,
    mirror: MirrorDep,
    notice: str | None = None,
    error: str | None = None,
) -> Response:
    """The wallet page, or the login form."""
    token = request.cookies.get(SESSION_COOKIE)
    user = user_for_token(conn, token)
    if user is None or token is None:
        return _page(request, "login.html", error=error)
    if user.address is None:
        return _page(request, "login.html", error="Dit account heeft geen portemonnee.")
    items = []
    names = dict(conn.execute("SELECT username, name FROM users").fetchall())
    for h in wallet_history(user, mirror, conn, limit=50):
        label, sign = _LABELS.get(h.kind, (h.kind, ""))
        who = names.get(h.counterparty or "", h.counterparty)
        items.append({"label": label, "sign": sign, "amount": h.amount, "counterparty": who})
    qr = segno.make(f"heitje:{user.username}").svg_inline(scale=4) if user.role == "shop" else ""
    return _page(
        request,
        "wallet.html",
        user=user,
        csrf=csrf_token(token),
        balance=format_heit(mirror.balance(user.address)),
        history=items,
        shops=list_shops(conn),
        qr=qr,
        notice=notice,
        error=error,
    )


@router.post("/login")
def login(
    request: Request,
    conn: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> Response:
    """Form login: sets the session cookie and goes to the wallet."""
    row = authenticate(conn, username, password)
    if row is None:
        return _page(
            request,
            "login.html",
            status=401,
            error="Onbekende gebruikersnaam of verkeerd wachtwoord.",
        )
    response = RedirectResponse("/", status_code=303)
    open_session(conn, settings, row["id"], response)
    return response


def _check_csrf(request: Request, given: str) -> str:
    token = request.cookies.get(SESSION_COOKIE) or ""
    if not token or not hmac.compare_digest(csrf_token(token), given):
        raise ApiError(403, "csrf_failed", "the form expired; reload the page")
    return token


@router.post("/logout")
def logout(request: Request, conn: SessionDep, csrf: Annotated[str, Form()]) -> Response:
    """Form logout."""
    token = _check_csrf(request, csrf)
    conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash(token),))
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


def _await_mirror(chain: ChainService, mirror: Mirror, tx_hash: str | None) -> None:
    """Wait (at most 5 s) until the mirror holds the payment, so the page shows the new
    balance; past that the page shows the mirror as it is."""
    if tx_hash is None:
        return
    try:
        block = int(chain.w3.eth.get_transaction_receipt(HexBytes(tx_hash))["blockNumber"])
        mirror.wait_until(block, timeout=5.0)
    except Exception:  # a late mirror is not an error for the payer
        return


@router.post("/pay")
def pay(
    request: Request,
    conn: SessionDep,
    chain: ChainDep,
    mirror: MirrorDep,
    settings: SettingsDep,
    to: Annotated[str, Form()],
    amount: Annotated[str, Form()],
    csrf: Annotated[str, Form()],
) -> Response:
    """Form payment to a shop; shows the outcome on the wallet page."""
    token = _check_csrf(request, csrf)
    user = user_for_token(conn, token)
    if user is None:
        return RedirectResponse("/", status_code=303)
    try:
        p = wallet_pay(PaymentCreate(to=to, amount=amount), user, conn, chain, settings, None)
    except HeitjeError as e:
        message = _MESSAGES.get(e.code, e.message)
        return RedirectResponse(f"/?{urlencode({'error': message})}", status_code=303)
    _await_mirror(chain, mirror, p.tx_hash)
    payee = conn.execute("SELECT name FROM users WHERE username = ?", (p.payee,)).fetchone()
    notice = f"Betaald: {p.amount} HEIT aan {payee[0] if payee else p.payee}"
    return RedirectResponse(f"/?{urlencode({'notice': notice})}", status_code=303)
