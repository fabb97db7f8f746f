"""What the shop's pages share: the error texts, the signed-in shop, the CSRF check."""

from __future__ import annotations

import hmac

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from domain import sessions
from domain.context import Caller, Context
from domain.security import SESSION_COOKIE, csrf_token
from heitje.errors import Refused
from web import i18n
from web.i18n import N_
from web.templating import language_of

ERRORS = {
    "required": N_("Fill this in."),
    "too_long": N_("This is too long."),
    "invalid_username": N_(
        "Use letters and digits, and if you like _ . @ or -. Start with a letter or digit."
    ),
    "invalid_password": N_("Choose a password of at least 8 characters."),
    "invalid_kvk": N_("A KvK number has exactly 8 digits, for example 12345678."),
    "invalid_postcode": N_("Type a postcode like 1234 AB."),
    "invalid_iban": N_("This IBAN is not right. Check the letters and digits."),
    "iban_not_sepa": N_("The municipality cannot pay euros to this bank account."),
    "invalid_bic": N_("This IBAN is not right. Check the letters and digits."),
    "bic_mismatch": N_("This IBAN is not right. Check the letters and digits."),
    "invalid_payee_name": N_("Use letters, digits and simple punctuation in the name."),
    "username_taken": N_("This username is taken. Choose another one."),
    "signup_throttled": N_("Too many sign-ups from here. Try again in an hour."),
    "csrf_failed": N_("The form has expired. Please try again."),
    "invalid_amount": N_("Type an amount like 4,50 or 4. Use at most two digits after the comma."),
    "insufficient_balance": N_("Your balance is too low."),
    "refund_exceeds_payment": N_("That is more than is left to pay back of this payment."),
    "refund_payment_pending": N_("This payment is not final yet. Try again in a minute."),
    "account_not_ready": N_("Your account is still being set up. Try again in a moment."),
    "shop_not_approved": N_("The municipality has not approved your shop yet."),
    "invalid_date": N_("Type a date like 2026-12-31."),
    "invalid_date_range": N_("The first day must not be after the last day."),
    "failed": N_("That did not work. Try again later."),
}
"""Error code -> message id of the text shown (next to its field where it is about one)."""


def shop_session(request: Request, ctx: Context) -> tuple[Caller, str] | None:
    """The signed-in shop and its session token, or None (no session, or not a shop)."""
    token = request.cookies.get(SESSION_COOKIE)
    user = sessions.session_caller(ctx, token)
    if user is None or token is None or user.role != "shop" or user.address is None:
        return None
    return user, token


def check_csrf(request: Request, given: str) -> str:
    token = request.cookies.get(SESSION_COOKIE) or ""
    if not token or not hmac.compare_digest(csrf_token(token).encode(), given.encode()):
        raise Refused(403, "csrf_failed", "the form expired; reload the page")
    return token


def error_texts(request: Request, errors: dict[str, str]) -> dict[str, str]:
    """Field -> error code, as field -> the error's text in the reader's language (codes
    without a text are left out)."""
    language = language_of(request)
    return {k: i18n.gettext(language, ERRORS[v]) for k, v in errors.items() if v in ERRORS}


def not_a_shop() -> Response:
    return RedirectResponse("/", status_code=303)
