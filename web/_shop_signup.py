"""The shop's sign-up page (`/shop/signup`): the form before any session, with its
double-submit CSRF cookie (`web.forms`); a sign-up logs the shop in."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from domain import accounts, sessions, shops
from domain.schemas import USERNAME_PATTERN, ShopCreate
from domain.security import session_cookie
from heitje.errors import HeitjeError, Refused
from web._shop_common import ERRORS, error_texts
from web.forms import LOGIN_CSRF_COOKIE, PageCtx, pre_session_csrf_ok, pre_session_page
from web.i18n import N_

router = APIRouter(include_in_schema=False)

SIGNUP_FIELDS = (
    "name",
    "username",
    "password",
    "kvk",
    "iban",
    "street",
    "house_number",
    "postcode",
    "town",
)
"""The sign-up form's fields, in the order the form asks them."""

FIELD_LIMITS = {
    "name": 70,
    "username": 64,
    "password": 256,
    "kvk": 20,
    "iban": 64,
    "street": 70,
    "house_number": 16,
    "postcode": 10,
    "town": 35,
}
"""The longest text each sign-up field takes (as `ShopCreate`)."""

FIELD_OF = {
    "username_taken": "username",
    "invalid_kvk": "kvk",
    "invalid_postcode": "postcode",
    "invalid_iban": "iban",
    "iban_not_sepa": "iban",
    "invalid_bic": "iban",
    "bic_mismatch": "iban",
    "invalid_payee_name": "name",
}
"""A sign-up refusal's code -> the field it is shown next to."""


def _signup_page(
    request: Request,
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The sign-up form with its double-submit CSRF token (kept from its cookie, or new)."""
    shown = dict(typed or {})
    shown.pop("password", None)  # never sent back
    return pre_session_page(
        request,
        "shop/signup.html",
        status,
        title=N_("Sign up your shop"),
        typed=shown,
        field_errors=error_texts(request, errors or {}),
        error=ERRORS.get(error or ""),
    )


@router.get("/shop/signup", response_class=HTMLResponse)
def signup_form(request: Request) -> Response:
    """The shop sign-up form: shop name, username, password, KvK number, IBAN, address."""
    return _signup_page(request)


def _form_problems(typed: dict[str, str]) -> dict[str, str]:
    """Field -> error code for what the form itself can tell: empty, too long, username and
    password rules."""
    problems: dict[str, str] = {}
    for field in SIGNUP_FIELDS:
        value = typed[field] if field == "password" else typed[field].strip()
        if not value:
            problems[field] = "required"
        elif len(value) > FIELD_LIMITS[field]:
            problems[field] = "too_long"
    if "username" not in problems and re.match(USERNAME_PATTERN, typed["username"].strip()) is None:
        problems["username"] = "invalid_username"
    if "password" not in problems and len(typed["password"]) < 8:
        problems["password"] = "invalid_password"
    return problems


def _unless(problems: dict[str, str], field: str, clean: dict[str, str]) -> str | None:
    """The typed `field`, or None when it is empty or already has a problem (too long: it
    must not reach `ShopCreate`, which would refuse it with a 500)."""
    return None if field in problems else (clean[field] or None)


@router.post("/shop/signup")
def signup(
    request: Request,
    ctx: PageCtx,
    name: Annotated[str, Form(max_length=500)] = "",
    username: Annotated[str, Form(max_length=500)] = "",
    password: Annotated[str, Form(max_length=500)] = "",
    kvk: Annotated[str, Form(max_length=500)] = "",
    iban: Annotated[str, Form(max_length=500)] = "",
    street: Annotated[str, Form(max_length=500)] = "",
    house_number: Annotated[str, Form(max_length=500)] = "",
    postcode: Annotated[str, Form(max_length=500)] = "",
    town: Annotated[str, Form(max_length=500)] = "",
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)] = "",
) -> Response:
    """Sign up a shop (`domain.accounts.sign_up_shop`) and log it in; then its home page,
    which says it waits for the municipality's approval. Every field is needed here. Refused:
    the form again with each error next to its field, what was typed kept (not the password),
    nothing made; 403 when the form's CSRF token does not match its cookie."""
    typed = {
        "name": name,
        "username": username,
        "password": password,
        "kvk": kvk,
        "iban": iban,
        "street": street,
        "house_number": house_number,
        "postcode": postcode,
        "town": town,
    }
    if not pre_session_csrf_ok(request, csrf):
        return _signup_page(request, typed, error="csrf_failed", status=403)
    problems = _form_problems(typed)
    clean = {k: (v if k == "password" else v.strip()) for k, v in typed.items()}
    body: ShopCreate | None = None
    if not {"name", "iban", "username", "password"} & problems.keys():
        body = ShopCreate(
            username=clean["username"],
            password=clean["password"],
            name=clean["name"],
            iban=clean["iban"],
            kvk=clean["kvk"] if "kvk" not in problems else None,
            street=_unless(problems, "street", clean),
            house_number=_unless(problems, "house_number", clean),
            postcode=clean["postcode"] if "postcode" not in problems else None,
            town=_unless(problems, "town", clean),
        )
        for field, code in shops.signup_problems(body).items():
            problems.setdefault(field, code)
    else:  # the KvK number and postcode are still checked, to show every error at once
        if "kvk" not in problems:
            try:
                shops.check_kvk(clean["kvk"])
            except Refused as e:
                problems["kvk"] = e.code
        if "postcode" not in problems:
            try:
                shops.normalise_postcode(clean["postcode"])
            except Refused as e:
                problems["postcode"] = e.code
    if problems or body is None:
        return _signup_page(request, typed, problems, status=422)
    client = request.client.host if request.client else ""
    try:
        accounts.sign_up_shop(ctx, body, client)
    except HeitjeError as e:
        about = FIELD_OF.get(e.code)
        if about is not None:
            return _signup_page(request, typed, {about: e.code}, status=e.http_status)
        code = e.code if e.code in ERRORS else "failed"
        return _signup_page(request, typed, error=code, status=e.http_status)
    shop = accounts.user_by_username(ctx, body.username)
    token, ttl = sessions.open_session(ctx, ctx.settings, shop.id)
    response = RedirectResponse("/shop?notice=welcome", status_code=303)
    response.set_cookie(**session_cookie(token, ttl, secure=ctx.settings.cookie_secure))
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response
