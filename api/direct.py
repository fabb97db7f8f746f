"""Hot read routes answered without FastAPI's per-request dependency solving.

FastAPI solves a route's dependencies and validates its parameters anew for every request, by
introspecting their annotations: on `GET /wallet` that was about half of the time the service
spent on a request (cProfile, bench/README.md "Wallet reads"). A `DirectRoute` keeps the
route's endpoint function, with its parameters, responses and docstring, for the OpenAPI
document, but answers with the endpoint's `direct` handler: a coroutine that takes the
`Request` and reads what it needs itself, through the same functions the dependencies use
(`api.deps.business_time`, `api.deps.get_current_user`'s rules) and the same domain call.

A direct handler raises `Refused` like any route (the app's exception handlers answer it) and
checks its query parameters with `query_int`, which answers as FastAPI's validation would
(422 `invalid_request`).

The hottest reads go further: `FastReads`, the outermost of the app's own middlewares (inside
only FastAPI's: `ServerErrorMiddleware`, telemetry), answers `GET` of the paths in its `reads`
table (`GET /wallet`, `GET /wallet/history`) from the raw ASGI scope, before `SecurityHeaders`,
`BodyLimit` and the router, which cost about as much as the read itself: no `Request`, no route
matching, no `Response` object. It does what those would: the security headers on every answer
(`api.security.security_headers`), refusals through the app's own exception handlers, and the
same read (`Read` functions, which the routes' `direct` handlers call too, so both give the same
JSON). The session is looked up in the session table on every read, as on every route: nothing
is cached. Anything else falls through to the app unchanged: another method or path, a request
with a body (`Content-Length` or `Transfer-Encoding`: `BodyLimit` decides about it), a
`root_path`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.datastructures import QueryParams
from starlette.requests import cookie_parser
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import business_time_of, caller_of_token
from api.security import security_headers
from domain.context import Caller, Context, Services
from domain.security import SESSION_COOKIE
from heitje.errors import Refused

Direct = Callable[[Request], Coroutine[Any, Any, Response]]
F = TypeVar("F", bound=Callable[..., Any])


def direct(handler: Direct) -> Callable[[F], F]:
    """Decorator: the endpoint below it is answered by `handler` when its router's
    `route_class` is `DirectRoute`."""

    def mark(endpoint: F) -> F:
        endpoint.__dict__["direct"] = handler
        return endpoint

    return mark


class DirectRoute(APIRoute):
    """An `APIRoute` answered by its endpoint's `direct` handler, when it has one (`direct`);
    documented from the endpoint's signature as usual."""

    def get_route_handler(self) -> Direct:
        handler: Direct | None = getattr(self.endpoint, "direct", None)
        if handler is None:
            return super().get_route_handler()
        return handler


def query_int(request: Request, name: str, low: int, high: int) -> int | None:
    """Query parameter `name` as an integer in `low..high`, None when absent.

    Errors: 422 `invalid_request` (not an integer, or out of range); given twice, the last
    counts (as FastAPI does).
    """
    return _query_int(request.query_params, name, low, high)


def _query_int(params: QueryParams, name: str, low: int, high: int) -> int | None:
    values = params.getlist(name)
    if not values:
        return None
    text = values[-1].strip()
    if not text.lstrip("-").isdigit() or len(text) > 20:
        raise Refused(422, "invalid_request", f"query.{name}: Input should be a valid integer")
    value = int(text)
    if value < low:
        raise Refused(
            422, "invalid_request", f"query.{name}: Input should be greater than or equal to {low}"
        )
    if value > high:
        raise Refused(
            422, "invalid_request", f"query.{name}: Input should be less than or equal to {high}"
        )
    return value


class ReadRequest:
    """What a `Read` needs of a `GET` request: its session token (the bearer token, else the
    session cookie: a safe method needs no CSRF check), its `X-Heitje-Time` header and its query
    string; from the raw ASGI scope (`FastReads`) or from a `Request` (a `direct` handler)."""

    __slots__ = ("_params", "_query", "services", "time", "token")

    def __init__(
        self, services: Services, token: str | None, time: str | None, query: bytes
    ) -> None:
        self.services = services
        self.token = token
        self.time = time
        self._query = query
        self._params: QueryParams | None = None

    @classmethod
    def of(cls, request: Request) -> ReadRequest:
        """The `ReadRequest` of a Starlette `Request` (as `api.deps.caller_of` reads it)."""
        auth = request.headers.get("authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        token = bearer or request.cookies.get(SESSION_COOKIE)
        return cls(
            request.app.state.services,
            token,
            request.headers.get("x-heitje-time"),
            request.scope.get("query_string", b""),
        )

    def query_int(self, name: str, low: int, high: int) -> int | None:
        """`query_int` on this request's query string."""
        if not self._query:
            return None
        if self._params is None:
            self._params = QueryParams(self._query)
        return _query_int(self._params, name, low, high)

    def context(self) -> Context:
        """A `Context` at the request's business time (`api.deps.business_time`); close it.

        Errors: 422 `invalid_time`."""
        return self.services.context(business_time_of(self.services.settings, self.time))

    def caller(self, ctx: Context) -> Caller:
        """The caller, looked up in the session table now (`api.deps.caller_of_token`).

        Errors: 401 `unauthorized`."""
        return caller_of_token(ctx, self.token)


Read = Callable[[ReadRequest], Awaitable[bytes]]
"""A read answered by `FastReads` and by a `direct` handler: the JSON body of a 200 answer, or
an exception (`Refused`) the app's handlers answer."""


def direct_read(read: Read) -> Direct:
    """The `direct` handler of a `Read` (the route's answer when `FastReads` passes a request
    on, e.g. one with a body)."""

    async def handler(request: Request) -> Response:
        return Response(await read(ReadRequest.of(request)), media_type="application/json")

    return handler


Handler = Callable[..., Any]
"""An exception handler of the app (`app.exception_handlers`): (Request, exception) to a
`Response`, or to an awaitable of one."""


class FastReads:
    """ASGI middleware: answers `GET` of the paths in `reads` itself (see the module doc).

    `handlers`: the app's exception handlers (`app.exception_handlers`; read when an answer
    fails, so handlers installed later count); `hsts` as for `SecurityHeaders`.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        reads: Mapping[str, Read],
        services: Services,
        handlers: Mapping[Any, Handler],
        hsts: bool,
    ) -> None:
        self.app = app
        self.reads = dict(reads)
        self.services = services
        self.handlers = handlers
        self.extra = {
            path: [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in security_headers(path, hsts=hsts).items()
            ]
            for path in self.reads
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        read = self.reads.get(scope.get("path", "")) if scope["type"] == "http" else None
        if read is None or scope["method"] != "GET" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        auth = time = None
        cookies: list[str] = []
        for name, value in scope["headers"]:
            if name == b"authorization":
                if auth is None:
                    auth = value.decode("latin-1")
            elif name == b"cookie":
                cookies.append(value.decode("latin-1"))
            elif name == b"x-heitje-time":
                if time is None:
                    time = value.decode("latin-1")
            elif name == b"content-length" or name == b"transfer-encoding":
                await self.app(scope, receive, send)  # a body: BodyLimit's to judge
                return
        token = auth[7:].strip() if auth and auth.lower().startswith("bearer ") else None
        if not token and cookies:
            jar: dict[str, str] = {}
            for header in cookies:
                jar.update(cookie_parser(header))
            token = jar.get(SESSION_COOKIE)
        extra = self.extra[scope["path"]]
        request = ReadRequest(self.services, token, time, scope.get("query_string", b""))
        try:
            body = await read(request)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise  # ServerErrorMiddleware's, as for every route
            response = handler(Request(scope, receive), exc)
            if inspect.isawaitable(response):
                response = await response
            have = {name for name, _ in response.raw_headers}
            response.raw_headers.extend(h for h in extra if h[0] not in have)
            await response(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", b"%d" % len(body)),
                    (b"content-type", b"application/json"),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _handler(self, exc: Exception) -> Handler | None:
        """The app's handler for `exc` as Starlette's `ExceptionMiddleware` finds it (by
        class, most specific first); None for what only `ServerErrorMiddleware` answers."""
        for cls in type(exc).__mro__:
            if cls is Exception:
                return None
            if cls in self.handlers:
                return self.handlers[cls]
        return None
