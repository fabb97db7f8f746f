"""FastAPI dependencies as `Annotated` aliases: the domain context of a request, the caller,
role checks. Every route gets a `Context` (database connection, settings, business time,
chain and mirror on first use) and calls `domain`."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Header, Request

from domain.context import Caller, Context, Services
from domain.security import SESSION_COOKIE, csrf_token
from domain.sessions import session_caller
from heitje.errors import Refused
from heitje.settings import Settings


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_settings(request: Request) -> Settings:
    return _services(request).settings


def business_time(request: Request, x_heitje_time: str | None) -> datetime:
    """Business time: the system clock; in rehearsal mode the client's `X-Heitje-Time`
    (ISO 8601 with a UTC offset, else 422 `invalid_time`)."""
    return business_time_of(_services(request).settings, x_heitje_time)


def business_time_of(settings: Settings, x_heitje_time: str | None) -> datetime:
    """`business_time` from the settings and the `X-Heitje-Time` header (`api.direct`)."""
    if x_heitje_time and settings.rehearsal:
        try:
            t = datetime.fromisoformat(x_heitje_time)
        except ValueError:
            raise Refused(422, "invalid_time", "X-Heitje-Time is not ISO 8601") from None
        if t.tzinfo is None:
            raise Refused(422, "invalid_time", "X-Heitje-Time needs a UTC offset")
        return t
    return datetime.now(UTC)


async def get_context(
    request: Request, x_heitje_time: Annotated[str | None, Header()] = None
) -> AsyncIterator[Context]:
    """The request's `Context` (a pooled database connection, given back when the answer is
    sent). The dependencies here are coroutines: each takes microseconds (a pooled connection,
    one indexed session lookup), less than a hand-off to the thread pool would cost; the
    routes themselves run in the thread pool."""
    ctx = _services(request).context(business_time(request, x_heitje_time))
    try:
        yield ctx
    finally:
        ctx.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
Ctx = Annotated[Context, Depends(get_context)]


def _bearer(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header, or None."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


def session_token(request: Request) -> str | None:
    """The session token of a request: the bearer token, else the session cookie."""
    return _bearer(request) or request.cookies.get(SESSION_COOKIE)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CSRF_HEADER = "X-CSRF-Token"


def same_origin(request: Request, settings: Settings) -> bool:
    """True when the request says it comes from the service's own origin: its `Origin`
    header, else the origin of its `Referer`, equals `HEITJE_PUBLIC_ORIGIN`, or (when that is
    empty) has the request's `Host` as its host and port. No header, or `Origin: null`: False.
    """
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if not referer:
            return False
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    origin = origin.strip().rstrip("/").lower()
    if settings.public_origin:
        return origin == settings.public_origin.strip().rstrip("/").lower()
    parts = urlsplit(origin)
    host = request.headers.get("host", "").strip().lower()
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc == host


def check_csrf(request: Request, settings: Settings, token: str) -> None:
    """An unsafe request (POST, PUT, PATCH, DELETE) authenticated by the session cookie
    `token` must prove it comes from the service's own pages (OWASP CSRF Prevention Cheat
    Sheet): the `X-CSRF-Token` header equal to the session's CSRF token (the one the pages put
    in their forms), or `Origin`/`Referer` of the service's own origin (`same_origin`).
    Bearer-token requests never reach here (a browser does not add that header by itself).

    Errors: 403 `csrf_failed`.
    """
    if request.method in SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER, "")
    if given and hmac.compare_digest(given.encode(), csrf_token(token).encode()):
        return
    if same_origin(request, settings):
        return
    raise Refused(
        403,
        "csrf_failed",
        "a request on a session cookie must come from this service's pages "
        f"(Origin) or carry {CSRF_HEADER}; apps use a bearer token",
    )


async def get_current_user(request: Request, ctx: Ctx) -> Caller:
    """The caller of a bearer token, else of the session cookie (then CSRF-checked).

    Errors: 401 `unauthorized`; 403 `csrf_failed`.
    """
    return caller_of(request, ctx)


def caller_of(request: Request, ctx: Context) -> Caller:
    """`get_current_user` as a plain function (for `api.direct` handlers)."""
    bearer = _bearer(request)
    cookie = None if bearer else request.cookies.get(SESSION_COOKIE)
    user = caller_of_token(ctx, bearer or cookie)
    if cookie:
        check_csrf(request, ctx.settings, cookie)
    return user


def caller_of_token(ctx: Context, token: str | None) -> Caller:
    """The caller of a live session `token` (bearer or cookie; a safe method needs no CSRF
    check), looked up in the session table on every call.

    Errors: 401 `unauthorized`.
    """
    user = session_caller(ctx, token)
    if user is None:
        raise Refused(401, "unauthorized", "log in first (bearer token or session cookie)")
    return user


CurrentUser = Annotated[Caller, Depends(get_current_user)]


async def get_optional_user(request: Request, ctx: Ctx) -> Caller | None:
    """The caller of a live bearer token or session cookie, else None (anonymous): for reads
    that show more to some callers (no CSRF check: only safe methods use it)."""
    return session_caller(ctx, session_token(request))


OptionalUser = Annotated[Caller | None, Depends(get_optional_user)]


def role_checker(*roles: str) -> Callable[[Caller], Awaitable[Caller]]:
    """A dependency: the caller has one of `roles`, else 403 `forbidden`."""

    async def check(user: CurrentUser) -> Caller:
        if user.role not in roles:
            raise Refused(403, "forbidden", f"this needs the role {' or '.join(roles)}")
        return user

    return check


AdminUser = Annotated[Caller, Depends(role_checker("admin"))]
CoordinatorUser = Annotated[Caller, Depends(role_checker("coordinator"))]
CitizenUser = Annotated[Caller, Depends(role_checker("citizen"))]
ShopUser = Annotated[Caller, Depends(role_checker("shop"))]
WalletUser = Annotated[Caller, Depends(role_checker("citizen", "shop"))]
"""A citizen or a shop: the roles that hold HEIT and pay (staff are refused 403 `forbidden`)."""
