"""What the pages share: the request's `Context` (`PageCtx`), the forms shown before any session
(log in, sign up) with their CSRF double-submit cookie, the login form, and where to go next.

Used by `web.pages`, `web.pay` and `web.signup`.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from domain import sessions
from domain.context import Caller, Context, Services
from domain.security import SESSION_COOKIE
from web.i18n import N_
from web.templating import render

LOGIN_CSRF_COOKIE = "heitje_login_csrf"
"""The double-submit cookie of the login and sign-up forms (CSRF before any session exists)."""

LOGIN_ERRORS = {
    "no_wallet": N_("This account cannot hold coins."),
    "invalid_credentials": N_("Unknown username or wrong password."),
    "account_disabled": N_("This account is switched off. Ask the administrator for help."),
    "csrf_failed": N_("The form has expired. Please try again."),
}
"""Refusal code -> message id of the text the login form shows (`login_throttled` has a text
of its own, with the wait: `web.pages`)."""


def page_context(request: Request) -> Iterator[Context]:
    """The request's `Context` (business time: now), closed after the response."""
    services: Services = request.app.state.services
    ctx = services.context(datetime.now(UTC))
    try:
        yield ctx
    finally:
        ctx.close()


PageCtx = Annotated[Context, Depends(page_context)]


def pre_session_page(request: Request, name: str, status: int, **values: Any) -> HTMLResponse:
    """A form page shown before any session (log in, sign up) with its CSRF token: the one
    in the double-submit cookie, or a new one, set."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    fresh = len(token) < 22
    if fresh:
        token = secrets.token_urlsafe(24)
    response = render(request, name, status, csrf_token=token, **values)
    if fresh:
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            httponly=True,
            secure=request.app.state.services.settings.cookie_secure,
            samesite="strict",
        )
    return response


def pre_session_csrf_ok(request: Request, given: str) -> bool:
    """True when a pre-session form's CSRF token equals its double-submit cookie."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    return bool(cookie) and hmac.compare_digest(cookie.encode(), given.encode())


def login_page(
    request: Request,
    error: str | None = None,
    status: int = 200,
    *,
    error_text: str | None = None,
    next_path: str = "",
) -> HTMLResponse:
    """The login form with its CSRF token (kept from its cookie, or new and set). `error`: a
    message id; `error_text`: a message already in the reader's language; `next_path`: the
    page on this site to go to after logging in (`safe_next`; the wallet when "")."""
    target = safe_next(next_path)
    return pre_session_page(
        request,
        "login.html",
        status,
        title=N_("Log in"),
        error=error,
        error_text=error_text,
        next_path="" if target == "/" else target,
    )


def safe_next(target: str | None) -> str:
    """A path on this site to go back to (never another host): "/" unless `target` starts
    with a single "/" and holds no backslash and no control character or space (a browser
    drops tabs and line breaks, so "/<tab>/host" would become "//host")."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in target)
    ):
        return "/"
    return target


def user_of(request: Request, ctx: Context) -> Caller | None:
    """The account of the request's session cookie, or None (logged out, expired)."""
    return sessions.session_caller(ctx, request.cookies.get(SESSION_COOKIE))
