"""FastAPI dependencies as `Annotated` aliases: database, settings, chain, clock, current user."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Request

from api.accounts import SESSION_COOKIE as SESSION_COOKIE
from api.chain import ChainService
from api.config import Settings
from api.db import connect
from api.errors import ApiError
from api.security import token_hash
from indexer.mirror import Mirror


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Iterator[sqlite3.Connection]:
    conn = connect(request.app.state.settings.service_db)
    try:
        yield conn
    finally:
        conn.close()


def get_chain(request: Request) -> ChainService:
    chain: ChainService | None = request.app.state.chain
    if chain is None:
        raise ApiError(503, "chain_unavailable", "the chain is not reachable")
    return chain


def get_mirror(request: Request) -> Mirror:
    """The SQL mirror, opened on first use (the indexer creates the file)."""
    mirror: Mirror | None = request.app.state.mirror
    if mirror is None:
        path = request.app.state.settings.mirror_db
        if not path.exists():
            raise ApiError(503, "mirror_unavailable", "the SQL mirror is not there yet")
        mirror = Mirror(path)
        request.app.state.mirror = mirror
    return mirror


def get_now(request: Request, x_heitje_time: Annotated[str | None, Header()] = None) -> datetime:
    """Business time: the system clock; in rehearsal mode the client's `X-Heitje-Time`."""
    if x_heitje_time and request.app.state.settings.rehearsal:
        try:
            t = datetime.fromisoformat(x_heitje_time)
        except ValueError:
            raise ApiError(422, "invalid_time", "X-Heitje-Time is not ISO 8601") from None
        if t.tzinfo is None:
            raise ApiError(422, "invalid_time", "X-Heitje-Time needs a UTC offset")
        return t
    return datetime.now(UTC)


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[sqlite3.Connection, Depends(get_db)]
ChainDep = Annotated[ChainService, Depends(get_chain)]
MirrorDep = Annotated[Mirror, Depends(get_mirror)]
NowDep = Annotated[datetime, Depends(get_now)]


@dataclass(frozen=True)
class User:
    """The authenticated caller."""

    id: int
    username: str
    role: str
    name: str
    address: str | None


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(SESSION_COOKIE)


def user_for_token(conn: sqlite3.Connection, token: str | None) -> User | None:
    """The user of a live session token, or None."""
    if not token:
        return None
    row = conn.execute(
        "SELECT u.id, u.username, u.role, u.name, u.address FROM sessions s "
        "JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?",
        (token_hash(token), time.time()),
    ).fetchone()
    return None if row is None else User(**dict(row))


def get_current_user(request: Request, conn: SessionDep) -> User:
    user = user_for_token(conn, _bearer(request))
    if user is None:
        raise ApiError(401, "unauthorized", "log in first (bearer token or session cookie)")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def role_checker(*roles: str) -> Callable[[User], User]:
    """A dependency: the caller has one of `roles`, else 403 `forbidden`."""

    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise ApiError(403, "forbidden", f"this needs the role {' or '.join(roles)}")
        return user

    return check


AdminUser = Annotated[User, Depends(role_checker("admin"))]
CoordinatorUser = Annotated[User, Depends(role_checker("coordinator"))]
CitizenUser = Annotated[User, Depends(role_checker("citizen"))]
ShopUser = Annotated[User, Depends(role_checker("shop"))]
