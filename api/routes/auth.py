"""Log in and out; who am I (`domain.accounts`)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import Ctx, CurrentUser, SettingsDep
from domain import accounts
from domain.schemas import AccountPublic, ErrorPublic, LoginRequest, Token
from domain.security import SESSION_COOKIE, session_cookie
from heitje.errors import Refused

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", responses={401: {"model": ErrorPublic}})
def login(body: LoginRequest, ctx: Ctx, settings: SettingsDep, response: Response) -> Token:
    """Exchange username and password for a bearer token (also set as an HttpOnly cookie).

    Errors: 401 `invalid_credentials` (unknown user or wrong password; same answer for both).
    """
    user = accounts.authenticate(ctx, body.username, body.password)
    if user is None:
        raise Refused(401, "invalid_credentials", "unknown username or wrong password")
    token, ttl = accounts.open_session(ctx, settings, user.id)
    response.set_cookie(**session_cookie(token, ttl, secure=settings.cookie_secure))
    return Token(access_token=token, role=user.role, expires_in=ttl)


@router.post("/logout", status_code=204)
def logout(user: CurrentUser, ctx: Ctx, response: Response) -> None:
    """End every session of the caller."""
    accounts.end_sessions(ctx, user.id)
    response.delete_cookie(SESSION_COOKIE)


@router.get("/me")
def me(user: CurrentUser, ctx: Ctx) -> AccountPublic:
    """The caller's account; `registered` tells whether its wallet is registered on chain."""
    return accounts.me(ctx, user)
