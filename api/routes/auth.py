"""Log in and out; who am I."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.accounts import authenticate, is_registered, open_session
from api.deps import SESSION_COOKIE, CurrentUser, SessionDep, SettingsDep
from api.errors import ApiError
from api.schemas import AccountPublic, ErrorPublic, LoginRequest, Token

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", responses={401: {"model": ErrorPublic}})
def login(body: LoginRequest, conn: SessionDep, settings: SettingsDep, response: Response) -> Token:
    """Exchange username and password for a bearer token (also set as an HttpOnly cookie).

    Errors: 401 `invalid_credentials` (unknown user or wrong password; same answer for both).
    """
    row = authenticate(conn, body.username, body.password)
    if row is None:
        raise ApiError(401, "invalid_credentials", "unknown username or wrong password")
    token, ttl = open_session(conn, settings, row["id"], response)
    return Token(access_token=token, role=row["role"], expires_in=ttl)


@router.post("/logout", status_code=204)
def logout(user: CurrentUser, conn: SessionDep, response: Response) -> None:
    """End every session of the caller."""
    conn.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))
    response.delete_cookie(SESSION_COOKIE)


@router.get("/me")
def me(user: CurrentUser, conn: SessionDep) -> AccountPublic:
    """The caller's account; `registered` tells whether its wallet is registered on chain."""
    registered = is_registered(conn, user.id) if user.address else None
    return AccountPublic(
        username=user.username,
        role=user.role,
        name=user.name,
        address=user.address,
        registered=registered,
    )
