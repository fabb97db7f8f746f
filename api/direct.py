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
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import Response

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
    values = request.query_params.getlist(name)
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
