"""Log in and out; who am I."""

from __future__ import annotations

import time

from fastapi import APIRouter, Response

from api.accounts import is_registered
from api.deps import SESSION_COOKIE, CurrentUser, SessionDep, SettingsDep
from api.errors import ApiError
from api.schemas import AccountPublic, ErrorPublic, LoginRequest, Token
from api.security import DUMMY_HASH, new_session_token, token_hash, verify_password

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", responses={401: {"model": ErrorPublic}})
def login(body: LoginRequest, conn: SessionDep, settings: SettingsDep, response: Response) -> Token:
    """Exchange username and password for a bearer token (also set as an HttpOnly cookie).

    Errors: 401 `invalid_credentials` (unknown user or wrong password; same answer for both).
    """
    row = conn.execute("SELECT * FROM users WHERE username = ?", (body.username,)).fetchone()
    ok = verify_password(body.password, row["password_hash"] if row else DUMMY_HASH)
    if row is None or not ok:
        raise ApiError(401, "invalid_credentials", "unknown username or wrong password")
    token = new_session_token()
    ttl = settings.session_hours * 3600
    conn.execute(
        "INSERT INTO sessions VALUES (?,?,?)", (token_hash(token), row["id"], time.time() + ttl)
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=ttl,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
    )
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
