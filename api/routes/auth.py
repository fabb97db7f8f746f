"""Log in and out; who am I (`domain.accounts`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import Ctx, CurrentUser, SettingsDep, session_token
from domain import accounts, second_factor, sessions
from domain.context import Caller
from domain.schemas import AccountPublic, ErrorPublic, LoginRequest, Token
from domain.security import SESSION_COOKIE, session_cookie

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/token",
    responses={
        401: {"model": ErrorPublic},
        403: {"model": ErrorPublic},
        429: {
            "model": ErrorPublic,
            "description": "Too many failed log-ins: `login_throttled`; wait `Retry-After` s.",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        },
    },
)
def login(
    body: LoginRequest, request: Request, ctx: Ctx, settings: SettingsDep, response: Response
) -> Token:
    """Exchange username (any case) and password for a bearer token (also set as an HttpOnly
    cookie). Throttled per account and per client address (OWASP ASVS 2.2.1). Staff (while
    `HEITJE_STAFF_SECOND_FACTOR` is on) send `otp` too: the code of their authenticator app or
    a recovery code (`domain.second_factor`); they set it up on the /office pages.

    Errors: 401 `invalid_credentials` (unknown user or wrong password; same answer for both),
    `second_factor_required` (staff without `otp`), `invalid_second_factor` (wrong or used
    code); 403 `account_disabled`, `second_factor_not_enrolled`; 429 `login_throttled` with
    `Retry-After` (seconds); 503 `second_factor_unreadable`.
    """
    client = request.client.host if request.client else None

    def check_code(caller: Caller) -> None:
        second_factor.check_login_code(ctx, caller, body.otp)

    user, token, ttl = sessions.log_in(ctx, body.username, body.password, client, check_code)
    response.set_cookie(**session_cookie(token, ttl, secure=settings.cookie_secure))
    return Token(access_token=token, role=user.role, expires_in=ttl)


@router.post("/logout", status_code=204)
def logout(user: CurrentUser, request: Request, ctx: Ctx, response: Response) -> None:
    """End the caller's current session (the token or cookie of this request; other devices
    stay logged in, as `POST /logout` on the pages) and clear the cookie.

    Errors: 401 `unauthorized`; 403 `csrf_failed` (cookie session from another origin).
    """
    token = session_token(request)
    if token:
        sessions.end_session(ctx, token)
    response.delete_cookie(SESSION_COOKIE)


@router.post("/logout-all", status_code=204)
def logout_all(user: CurrentUser, ctx: Ctx, response: Response) -> None:
    """Log out everywhere: end every session of the caller, on every device, and clear the
    cookie.

    Errors: 401 `unauthorized`; 403 `csrf_failed` (cookie session from another origin).
    """
    sessions.end_sessions(ctx, user.id)
    response.delete_cookie(SESSION_COOKIE)


@router.get("/me")
def me(user: CurrentUser, ctx: Ctx) -> AccountPublic:
    """The caller's account; `registered` tells whether its wallet is registered on chain."""
    return accounts.me(ctx, user)
