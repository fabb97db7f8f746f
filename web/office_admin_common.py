"""What the admin's pages (`web.office_admin`, `_shops`, `_periods`) share: their error
texts, turning refusal codes into those texts, and a reason field's check."""

from __future__ import annotations

from fastapi import Request

from web import i18n
from web.i18n import N_
from web.templating import language_of

ADMIN = ("admin",)
"""Who may see the admin's pages."""

MAX_REASON = 500
"""The longest reason (characters) an admin's form takes."""

ERRORS = {
    "required": N_("Fill this in."),
    "too_long": N_("This is too long."),
    "reason_required": N_("Say why. The staff log keeps it."),
    "invalid_username": N_(
        "Use letters and digits, and if you like _ . @ or -. Start with a letter or digit."
    ),
    "invalid_password": N_("Choose a password of at least 8 characters."),
    "invalid_role": N_("Choose a role."),
    "username_taken": N_("This username is taken. Choose another one."),
    "cannot_disable_self": N_("You cannot switch off your own account."),
    "last_admin": N_(
        "This is the last administrator who is switched on. Switch on another one first."
    ),
    "not_staff": N_("This is not a staff account."),
    "cannot_reset_self": N_("Ask another administrator to reset your own second factor."),
    "unknown_account": N_("There is no account with this username."),
    "unknown_shop": N_("There is no shop with this username."),
    "shop_not_pending": N_("This shop has been decided on already."),
    "invalid_amount": N_("Type an amount like 2500 or 2500,50. It must be more than 0."),
    "invalid_date": N_("Type a date like 2026-12-31."),
    "start_in_past": N_("Choose today or a later day."),
    "invalid_period": N_(
        "The chain refused this start: a new period must start after the last one started."
    ),
    "missing_role": N_("The chain refused: the service's key may not do this."),
    "missing_key": N_("The key for this is not on the server. Ask the technical administrator."),
    "already_paused": N_("The coin is already paused."),
    "not_paused": N_("The coin is not paused."),
    "chain_unavailable": N_("The chain cannot be reached now. Try again later."),
    "csrf_failed": N_("The form has expired. Please try again."),
    "failed": N_("That did not work. Try again later."),
    "chain_refused": N_("The chain refused this: %(reason)s"),
}
"""Error code -> message id of the text shown (next to its field where it is about one)."""


def error_text(request: Request, code: str, detail: str = "") -> str:
    """The text of error `code` in the reader's language (`failed`'s for an unknown code);
    `chain_refused` takes the chain's own `detail`."""
    language = language_of(request)
    text = i18n.gettext(language, ERRORS.get(code, ERRORS["failed"]))
    return text % {"reason": detail} if code == "chain_refused" else text


def error_texts(request: Request, errors: dict[str, str]) -> dict[str, str]:
    """Field -> error code, as field -> its text in the reader's language."""
    return {field: error_text(request, code) for field, code in errors.items()}


def reason_problem(reason: str, *, required: bool) -> str | None:
    """The error code of a typed reason (`reason_required`, `too_long`), or None."""
    text = " ".join(reason.split())
    if required and not text:
        return "reason_required"
    if len(text) > MAX_REASON:
        return "too_long"
    return None
