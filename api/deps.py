"""FastAPI dependencies as `Annotated` aliases: the domain context of a request, the caller,
role checks. Every route gets a `Context` (database connection, settings, business time,
chain and mirror on first use) and calls `domain`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Request

from domain.accounts import session_caller
from domain.context import Caller, Context, Services
from domain.security import SESSION_COOKIE
from heitje.errors import Refused
from heitje.settings import Settings


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_settings(request: Request) -> Settings:
    return get_services(request).settings


def business_time(request: Request, x_heitje_time: str | None) -> datetime:
    """Business time: the system clock; in rehearsal mode the client's `X-Heitje-Time`
    (ISO 8601 with a UTC offset, else 422 `invalid_time`)."""
    if x_heitje_time and get_settings(request).rehearsal:
        try:
            t = datetime.fromisoformat(x_heitje_time)
        except ValueError:
            raise Refused(422, "invalid_time", "X-Heitje-Time is not ISO 8601") from None
        if t.tzinfo is None:
            raise Refused(422, "invalid_time", "X-Heitje-Time needs a UTC offset")
        return t
    return datetime.now(UTC)


def get_context(
    request: Request, x_heitje_time: Annotated[str | None, Header()] = None
) -> Iterator[Context]:
    ctx = get_services(request).context(business_time(request, x_heitje_time))
    try:
        yield ctx
    finally:
        ctx.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
Ctx = Annotated[Context, Depends(get_context)]


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(SESSION_COOKIE)


def get_current_user(request: Request, ctx: Ctx) -> Caller:
    user = session_caller(ctx, _bearer(request))
    if user is None:
        raise Refused(401, "unauthorized", "log in first (bearer token or session cookie)")
    return user


CurrentUser = Annotated[Caller, Depends(get_current_user)]


def role_checker(*roles: str) -> Callable[[Caller], Caller]:
    """A dependency: the caller has one of `roles`, else 403 `forbidden`."""

    def check(user: CurrentUser) -> Caller:
        if user.role not in roles:
            raise Refused(403, "forbidden", f"this needs the role {' or '.join(roles)}")
        return user

    return check


AdminUser = Annotated[Caller, Depends(role_checker("admin"))]
CoordinatorUser = Annotated[Caller, Depends(role_checker("coordinator"))]
CitizenUser = Annotated[Caller, Depends(role_checker("citizen"))]
ShopUser = Annotated[Caller, Depends(role_checker("shop"))]
