"""The server-rendered pages: log in, balance and history (with the tasks of rewards and what
is left of this year's cap); the language switch, the statements (accessibility, privacy)
and the municipality's theme files. Sign-up (`web.signup`) and paying a shop (`web.pay`, from
a link a shop's QR code holds, with a confirmation step) are included in `router`; what they
share with these is in `web.forms`.

The HTML face of `domain`: cookie sessions (HttpOnly, SameSite=Lax) and a CSRF token in every
form that posts (`csrf_token`: a synchronizer token derived from the session; on the login
and sign-up forms, before any session, a double-submit cookie); the same domain functions as
the JSON API (`domain.sessions`, `domain.accounts`, `domain.wallet`, `domain.payments`). Pages
come in Dutch (default) and English (`web.i18n`, `web.templating`). Messages on a page come
from fixed lists of codes (`ERRORS`, `NOTICES`): a query string names a code, never the
text, and an unknown code shows nothing.
"""

from __future__ import annotations

import hmac
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import segno
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from domain import accounts, payments, sessions, wallet
from domain.context import Caller, Context
from domain.security import SESSION_COOKIE, csrf_token, session_cookie
from heitje.errors import Refused, Throttled
from heitje.money import units_of
from indexer.errors import MirrorBehind
from web import i18n, pay, signup
from web.forms import LOGIN_CSRF_COOKIE as LOGIN_CSRF_COOKIE
from web.forms import (
    LOGIN_ERRORS,
    PageCtx,
    login_page,
    pre_session_csrf_ok,
    safe_next,
    user_of,
)
from web.i18n import N_
from web.pay import ERRORS, FIELD_ERRORS
from web.templating import STAFF_ROLES, language_of, render

router = APIRouter(tags=["pages"], include_in_schema=False)
router.include_router(pay.router)
router.include_router(signup.router)

STATIC_DIR = Path(__file__).resolve().parent / "static"
"""The pages' static files (served at `/static`): style sheets, scripts, vendor files
(`static/vendor`, copied from node_modules by `make setup`) and the default theme."""
DEFAULT_THEME_DIR = STATIC_DIR / "theme"
THEME_FILES = {"theme.css": "text/css", "logo.svg": "image/svg+xml"}
"""The theme's files, served at `/theme/<name>` from HEITJE_THEME_DIR when it has them, else
from `static/theme` (README: How a municipality sets its theme)."""

ACCESSIBILITY_CHECKED = date(2026, 12, 2)
"""When the pages were last checked for the accessibility statement (update it with the
statement, after a new check)."""

NOTICES = {"paid": N_("Paid: %(amount)s to %(payee)s.")}
"""Notice code -> message id; its values come from the database, never the URL."""

_KINDS: dict[str, tuple[str, str]] = {
    "reward": (N_("Reward"), "+"),
    "received": (N_("Received from %(who)s"), "+"),
    "sent": (N_("Paid to %(who)s"), "-"),
    "redemption": (N_("Exchanged for euros"), "-"),
}
"""History kind -> (message id of its label, sign)."""


def _throttled(request: Request, wait: int) -> str:
    """The login form's message while log-ins are throttled, in the reader's language."""
    text = i18n.translations(language_of(request)).ngettext(
        "Too many wrong passwords. Try again in %(wait)s second.",
        "Too many wrong passwords. Try again in %(wait)s seconds.",
        wait,
    )
    return str(text) % {"wait": wait}


def _paid_notice(ctx: Context, user: Caller, payment_id: int) -> dict[str, Any] | None:
    """Amount (base units) and payee's name of the caller's own payment `payment_id`, for the
    "paid" notice (`domain.payments.paid_notice`); None for anyone else's or a refused one."""
    paid = payments.paid_notice(ctx, user, payment_id)
    if paid is None:
        return None
    amount, payee = paid
    names = wallet.display_names(ctx, [payee])
    return {"units": units_of(amount), "payee": names.get(payee, payee)}


def _wallet_page(
    request: Request,
    ctx: PageCtx,
    user: Caller,
    token: str,
    *,
    status: int = 200,
    error: str | None = None,
    notice: dict[str, Any] | None = None,
    min_block: int | None = None,
    typed: dict[str, str] | None = None,
) -> HTMLResponse:
    balance: int | None = None
    items: list[dict[str, Any]] = []
    try:
        balance = units_of(wallet.balance(ctx, user, min_block).balance)
        history = wallet.history_with_titles(ctx, user, limit=50, min_block=min_block)
        names = wallet.display_names(ctx, [h.counterparty for h, _ in history if h.counterparty])
        for h, title in history:
            label, sign = _KINDS.get(h.kind, (h.kind, ""))
            units = units_of(h.amount)
            items.append(
                {
                    "label": label,
                    "title": title if h.kind == "reward" else None,
                    "units": -units if sign == "-" else units,
                    "counterparty": names.get(h.counterparty or "", h.counterparty),
                    "timestamp": h.timestamp,
                }
            )
    except MirrorBehind:  # not there yet: say so rather than show the balance before the payment
        balance, items = None, []
    cap_left = wallet.cap_left(ctx, user) if user.role == "citizen" else None
    qr = ""
    if user.role == "shop":
        qr = segno.make(f"heitje:{user.username}").svg_inline(
            scale=4, omitsize=True, title=user.username
        )
    return render(
        request,
        "wallet.html",
        status,
        title=N_("Your coins"),
        user=user,
        csrf_token=csrf_token(token),
        balance=balance,
        cap_left=cap_left,
        cap=ctx.settings.cap_units(),
        history=items,
        shop_options=[(s.username, s.name) for s in accounts.list_shops(ctx)],
        qr=qr,
        notice=notice,
        error=ERRORS.get(error or ""),
        field_errors={FIELD_ERRORS[error]: ERRORS[error]} if error in FIELD_ERRORS else {},
        typed=typed or {},
    )


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
    in time, the page says the balance is being updated. A shop goes to its own page,
    `/shop` (303), staff to theirs, `/office`."""
    token = request.cookies.get(SESSION_COOKIE)
    user = sessions.session_caller(ctx, token)
    if user is None and sessions.pending_caller(ctx, token) is not None:
        return RedirectResponse("/office/second-factor", status_code=303)  # code still due
    if user is None or token is None:
        return login_page(request)
    if user.role in STAFF_ROLES:
        return RedirectResponse("/office", status_code=303)
    if user.address is None:
        return login_page(request, LOGIN_ERRORS["no_wallet"])
    if user.role == "shop":
        return RedirectResponse("/shop", status_code=303)
    paid = None
    if notice == "paid" and payment is not None:
        paid = _paid_notice(ctx, user, payment)
    if min_block is not None and min_block < 0:
        min_block = None
    return _wallet_page(request, ctx, user, token, error=error, notice=paid, min_block=min_block)


@router.post("/login")
def login(
    request: Request,
    ctx: PageCtx,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2048)] = "",
) -> Response:
    """Form login: sets the session cookie and goes to `next` (a page on this site, e.g. the
    pay page a shop's QR code opened; `web.forms.safe_next`), else the wallet. The form's CSRF token
    must equal its double-submit cookie (login CSRF), else 403 and the form again. Throttled
    as `POST /auth/token` (429 with Retry-After and the wait in the message); 401 wrong
    name or password, 403 disabled account: the form again with the message."""
    if not pre_session_csrf_ok(request, csrf):
        return login_page(request, LOGIN_ERRORS["csrf_failed"], status=403, next_path=next_path)
    client = request.client.host if request.client else None
    try:
        user, token, ttl = sessions.log_in(ctx, username, password, client)
    except Throttled as e:
        text = _throttled(request, e.retry_after)
        page = login_page(request, status=e.http_status, error_text=text, next_path=next_path)
        page.headers["Retry-After"] = str(e.retry_after)
        return page
    except Refused as e:
        error = LOGIN_ERRORS.get(e.code, LOGIN_ERRORS["invalid_credentials"])
        return login_page(request, error, e.http_status, next_path=next_path)
    target = safe_next(next_path)
    if sessions.needs_second_factor(ctx.settings, user.role):  # staff: their code first
        query = "" if target == "/" else "?next=" + quote(target, safe="")
        target = "/office/second-factor" + query
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(**session_cookie(token, ttl, secure=ctx.settings.cookie_secure))
    return response


def _check_csrf(request: Request, given: str) -> str:
    token = request.cookies.get(SESSION_COOKIE) or ""
    if not token or not hmac.compare_digest(csrf_token(token).encode(), given.encode()):
        raise Refused(403, "csrf_failed", "the form expired; reload the page")
    return token


@router.post("/logout")
def logout(
    request: Request,
    ctx: PageCtx,
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)],
) -> Response:
    """Form logout: ends this session only (as `POST /auth/logout`)."""
    token = _check_csrf(request, csrf)
    sessions.end_session(ctx, token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/lang/{language}")
def switch_language(request: Request, language: str, next: str | None = None) -> Response:
    """The language switch: remembers `language` (nl, en) in a cookie for a year and goes
    back to `next` (a path on this site)."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if language in i18n.LANGUAGES:
        response.set_cookie(
            i18n.LANG_COOKIE,
            language,
            max_age=i18n.LANG_COOKIE_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=request.app.state.services.settings.cookie_secure,
        )
    return response


def _statement(request: Request, ctx: Context, name: str, title: str) -> HTMLResponse:
    token = request.cookies.get(SESSION_COOKIE)
    user = user_of(request, ctx)
    language = language_of(request)
    return render(
        request,
        f"statements/{name}.{language}.html",
        title=title,
        user=user,
        checked=i18n.format_day(ACCESSIBILITY_CHECKED, language),
        csrf_token=csrf_token(token) if user is not None and token else None,
    )


@router.get("/accessibility", response_class=HTMLResponse)
def accessibility(request: Request, ctx: PageCtx) -> Response:
    """The accessibility statement (toegankelijkheidsverklaring), in the Dutch model."""
    return _statement(request, ctx, "accessibility", N_("Accessibility statement"))


@router.get("/privacy", response_class=HTMLResponse)
def privacy(request: Request, ctx: PageCtx) -> Response:
    """The privacy statement: what is stored where, on chain and off, and erasure."""
    return _statement(request, ctx, "privacy", N_("Privacy statement"))


@router.get("/theme/{name}")
def theme_file(request: Request, name: str) -> Response:
    """The municipality's theme file `name` (theme.css, logo.svg): from HEITJE_THEME_DIR when
    it has it, else the default."""
    if name not in THEME_FILES:
        return Response(status_code=404)
    theme_dir: Path | None = request.app.state.services.settings.theme_dir
    path = theme_dir / name if theme_dir is not None else None
    if path is None or not path.is_file():
        path = DEFAULT_THEME_DIR / name
    return FileResponse(path, media_type=THEME_FILES[name])
