"""A resident's sign-up page (`/signup`): name, username, password, neighbourhood and consent to
the privacy statement; then logged in and on to the wallet. Errors next to their fields, what
was typed kept (never the password), nothing created on error.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from domain import accounts, sessions
from domain.context import Context
from domain.schemas import USERNAME_PATTERN, CitizenCreate
from domain.security import session_cookie
from heitje.errors import Refused, Throttled
from web import i18n
from web.forms import PageCtx, pre_session_csrf_ok, pre_session_page, user_of
from web.i18n import N_
from web.templating import language_of

router = APIRouter(tags=["pages"], include_in_schema=False)

SIGNUP_ERRORS = {
    "name_required": N_("Type your name."),
    "too_long": N_("This is too long. Use at most %(max)s characters."),
    "username_required": N_("Choose a username."),
    "username_invalid": N_(
        "Use only letters, digits and the signs . _ @ - in a username. Start with a letter or a "
        "digit."
    ),
    "username_taken": N_("This username is taken. Choose another one."),
    "password_short": N_("Your password is too short. Use at least 8 characters."),
    "password_is_username": N_("Your password cannot be your username. Choose another one."),
    "consent_required": N_("You can only sign up if you agree. Tick the box."),
    "fix_fields": N_("Not everything is filled in right. See the messages by the fields."),
    "signup_failed": N_("Signing up did not work. Try again later."),
    "csrf_failed": N_("The form has expired. Please try again."),
}
"""Sign-up refusal code -> message id (`too_long` takes `max`); `signup_throttled`:
`_signup_throttled`."""
SIGNUP_LIMITS = {"name": 200, "username": 64, "password": 256, "neighbourhood": 200}
"""Longest value of each sign-up field (as `domain.schemas.CitizenCreate`)."""
PASSWORD_MIN = 8


def _signup_page(
    request: Request,
    status: int = 200,
    *,
    typed: dict[str, str] | None = None,
    field_errors: dict[str, str] | None = None,
    error: str | None = None,
    error_text: str | None = None,
) -> HTMLResponse:
    """The sign-up form (`field_errors`: field -> message in the reader's language)."""
    return pre_session_page(
        request,
        "signup.html",
        status,
        title=N_("Sign up"),
        typed=typed or {},
        field_errors=field_errors or {},
        error=error,
        error_text=error_text,
    )


def _signup_errors(
    ctx: Context, typed: dict[str, str], password: str, language: str
) -> dict[str, str]:
    """What is wrong with a sign-up, field -> message in `language` (empty: nothing)."""
    found: dict[str, tuple[str, int]] = {}
    values = {**typed, "password": password}
    for field, limit in SIGNUP_LIMITS.items():
        if len(values[field]) > limit:
            found[field] = ("too_long", limit)
    if "name" not in found and not typed["name"]:
        found["name"] = ("name_required", 0)
    username = typed["username"]
    if "username" not in found:
        if not username:
            found["username"] = ("username_required", 0)
        elif not re.fullmatch(USERNAME_PATTERN, username):
            found["username"] = ("username_invalid", 0)
        # Whether it is taken is answered by the sign-up itself, which counts against the
        # throttle: a form that is wrong elsewhere never tells (no free probing of usernames).
    if "password" not in found:
        if len(password) < PASSWORD_MIN:
            found["password"] = ("password_short", 0)
        elif username and password.casefold() == username.casefold():
            found["password"] = ("password_is_username", 0)
    if typed["consent"] != "yes":
        found["consent"] = ("consent_required", 0)
    return {
        field: i18n.gettext(language, SIGNUP_ERRORS[code]) % {"max": limit}
        if code == "too_long"
        else i18n.gettext(language, SIGNUP_ERRORS[code])
        for field, (code, limit) in found.items()
    }


def _signup_throttled(request: Request, wait: int) -> str:
    """The sign-up form's message while sign-ups are throttled, in the reader's language
    (the wait in whole minutes, at least 1)."""
    minutes = max(1, -(-wait // 60))
    text = i18n.translations(language_of(request)).ngettext(
        "Too many sign-ups from here. Try again in %(wait)s minute.",
        "Too many sign-ups from here. Try again in %(wait)s minutes.",
        minutes,
    )
    return str(text) % {"wait": minutes}


@router.get("/signup", response_class=HTMLResponse)
def signup_form(request: Request, ctx: PageCtx) -> Response:
    """The sign-up form of a resident (a logged-in reader goes to the wallet)."""
    if user_of(request, ctx) is not None:
        return RedirectResponse("/", status_code=303)
    return _signup_page(request)


@router.post("/signup")
def signup(
    request: Request,
    ctx: PageCtx,
    name: Annotated[str, Form(max_length=1000)] = "",
    username: Annotated[str, Form(max_length=1000)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    neighbourhood: Annotated[str, Form(max_length=1000)] = "",
    consent: Annotated[str, Form(max_length=16)] = "",
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)] = "",
) -> Response:
    """Sign up a resident (`domain.accounts.sign_up_citizen`, throttled per client address):
    name, username, password (8 or more characters, not the username), neighbourhood
    (optional) and consent to the privacy statement (required; recorded with the time). Then
    logged in (session cookie, as `/login`) and on to the wallet. Refused: the form again
    with each message next to its field (422; 409 for a username taken meanwhile), or at the
    top (429 throttled, with Retry-After; 403 expired form), what was typed kept except the
    password, nothing created. The CSRF token is the double-submit cookie, as on `/login`."""
    typed = {
        "name": name.strip(),
        "username": username.strip(),
        "neighbourhood": neighbourhood.strip(),
        "consent": "yes" if consent == "yes" else "",
    }
    if not pre_session_csrf_ok(request, csrf):
        return _signup_page(request, 403, typed=typed, error=SIGNUP_ERRORS["csrf_failed"])
    language = language_of(request)
    field_errors = _signup_errors(ctx, typed, password, language)
    if field_errors:
        return _signup_page(
            request,
            422,
            typed=typed,
            field_errors=field_errors,
            error=SIGNUP_ERRORS["fix_fields"],
        )
    body = CitizenCreate(
        username=typed["username"],
        password=password,
        name=typed["name"],
        neighbourhood=typed["neighbourhood"],
        consent=True,
    )
    client = request.client.host if request.client else ""
    try:
        accounts.sign_up_citizen(ctx, body, client)
    except Throttled as e:
        text = _signup_throttled(request, e.retry_after)
        page = _signup_page(request, e.http_status, typed=typed, error_text=text)
        page.headers["Retry-After"] = str(e.retry_after)
        return page
    except Refused as e:
        if e.code != "username_taken":
            return _signup_page(
                request, e.http_status, typed=typed, error=SIGNUP_ERRORS["signup_failed"]
            )
        taken = i18n.gettext(language, SIGNUP_ERRORS["username_taken"])
        return _signup_page(
            request,
            e.http_status,
            typed=typed,
            field_errors={"username": taken},
            error=SIGNUP_ERRORS["fix_fields"],
        )
    user = accounts.user_by_username(ctx, body.username)
    token, ttl = sessions.open_session(ctx, ctx.settings, user.id)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(**session_cookie(token, ttl, secure=ctx.settings.cookie_secure))
    return response
