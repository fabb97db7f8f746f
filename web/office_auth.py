"""The staff second factor's pages (issue 11, `domain.second_factor`): after their password, a
staff member comes to `/office/second-factor` (`POST /login` sends them). Not set up yet: the
QR code and the secret as text for an authenticator app, a field for its first code, then the
10 recovery codes, shown once. Set up: a field for the 6-digit code or a recovery code. Only
then does the session count (`domain.sessions.session_caller`); until then every other page
and endpoint refuses it, and logging out works as ever.
"""

from __future__ import annotations

from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from domain import second_factor, sessions
from domain.context import Caller, Context
from domain.security import SESSION_COOKIE, csrf_token
from heitje.errors import Refused, Throttled
from web.forms import PageCtx, safe_next
from web.i18n import N_, translations
from web.office_common import Staff, check_csrf, office_session
from web.templating import language_of, render

router = APIRouter(include_in_schema=False)

PATH = "/office/second-factor"

CODE_ERRORS = {
    "invalid_second_factor": N_(
        "This code is not right, or it was used before. Type the code your app shows now."
    ),
    "second_factor_unreadable": N_(
        "Your app's codes cannot be checked. Use a recovery code, or ask an administrator to "
        "reset your second factor."
    ),
    "second_factor_enrolled": N_("Your app is set up already. Type the code it shows."),
    "csrf_failed": N_("The form has expired. Please try again."),
}
"""Refusal code -> message id shown by the code field (`login_throttled` has its own, with
the wait)."""

PENDING_USER = {"role": "second_factor"}
"""What the page header gets for a session waiting for its second factor: the log-out button,
no menu (no page of the menu would open yet)."""


def _next(next_path: str) -> str:
    """Where to go once the second factor is given: `next` (a path on this site), else the
    staff home page."""
    target = safe_next(next_path)
    return "/office" if target == "/" else target


def _pending(request: Request, ctx: Context, next_path: str) -> tuple[Caller, str] | Response:
    """The account and token of this request's session waiting for its second factor; else
    the answer: the staff home (or `next`) for a complete staff session, the login form
    (401) without a session, a 403 page for anyone else."""
    token = request.cookies.get(SESSION_COOKIE)
    caller = sessions.pending_caller(ctx, token)
    if caller is not None and token:
        return caller, token
    staff = office_session(request, ctx)
    if isinstance(staff, Staff):
        return RedirectResponse(_next(next_path), status_code=303)
    return staff


def _throttled_text(request: Request, wait: int) -> str:
    """The code field's message while codes are throttled, in the reader's language."""
    text = translations(language_of(request)).ngettext(
        "Too many wrong codes. Try again in %(wait)s second.",
        "Too many wrong codes. Try again in %(wait)s seconds.",
        wait,
    )
    return str(text) % {"wait": wait}


def _page(
    request: Request,
    ctx: Context,
    caller: Caller,
    token: str,
    next_path: str,
    *,
    error: str | None = None,
    status: int = 200,
    retry_after: int | None = None,
) -> Response:
    """The code page (set up) or the set-up page, with `error` (a message id or a text
    already translated) by the code field."""
    language = translations(language_of(request))
    values: dict[str, Any] = {
        "user": PENDING_USER,
        "csrf_token": csrf_token(token),
        "next_path": _next(next_path),
        "code_error": language.gettext(error) if error else None,
        "username": caller.username,
    }
    if second_factor.state(ctx, caller) == "enrolled":
        page = render(request, "office/auth_code.html", status, title=N_("Your code"), **values)
    else:
        setup = second_factor.begin_enrolment(ctx, caller)
        qr = segno.make(setup.uri, error="m").svg_inline(
            scale=5, omitsize=True, title=language.gettext("QR code for your authenticator app")
        )
        page = render(
            request,
            "office/auth_enrol.html",
            status,
            title=N_("Set up your second factor"),
            qr=qr,
            groups=setup.groups,
            uri=setup.uri,
            **values,
        )
    if retry_after is not None:
        page.headers["Retry-After"] = str(retry_after)
    return page


@router.get(PATH)
def second_factor_page(
    request: Request,
    ctx: PageCtx,
    next_path: Annotated[str, Query(alias="next", max_length=2048)] = "",
) -> Response:
    """The second-factor step after a staff member's password: set up an authenticator app
    (QR code, the secret as text, the first code), or give its code."""
    who = _pending(request, ctx, next_path)
    if not isinstance(who, tuple):
        return who
    caller, token = who
    return _page(request, ctx, caller, token, next_path)


@router.post(PATH)
def second_factor_post(
    request: Request,
    ctx: PageCtx,
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)] = "",
    code: Annotated[str, Form(max_length=64)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2048)] = "",
) -> Response:
    """The code: the first one confirms the set-up and shows the recovery codes once; later
    ones (or a recovery code) complete the session and go on to `next` (303). A wrong code:
    the page again with the message by the field, nothing changed."""
    who = _pending(request, ctx, next_path)
    if not isinstance(who, tuple):
        return who
    caller, token = who
    try:
        check_csrf(request, csrf)
    except Refused:
        return _page(
            request, ctx, caller, token, next_path, error=CODE_ERRORS["csrf_failed"], status=403
        )
    enrolled = second_factor.state(ctx, caller) == "enrolled"
    try:
        if enrolled:
            second_factor.complete_login(ctx, caller, token, code)
        else:
            codes = second_factor.finish_enrolment(ctx, caller, token, code)
    except Throttled as e:
        text = _throttled_text(request, e.retry_after)
        return _page(
            request,
            ctx,
            caller,
            token,
            next_path,
            error=text,
            status=429,
            retry_after=e.retry_after,
        )
    except Refused as e:
        error = CODE_ERRORS.get(e.code, CODE_ERRORS["invalid_second_factor"])
        return _page(request, ctx, caller, token, next_path, error=error, status=e.http_status)
    if enrolled:
        return RedirectResponse(_next(next_path), status_code=303)
    return render(
        request,
        "office/auth_recovery.html",
        title=N_("Your recovery codes"),
        user=caller,
        csrf_token=csrf_token(token),
        codes=codes,
        next_path=_next(next_path),
    )
