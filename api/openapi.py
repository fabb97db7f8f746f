"""The OpenAPI document (`GET /openapi.json`, OpenAPI 3.1) made to tell the truth about
authentication and refusals.

FastAPI derives each operation from its route; what it cannot see is added here, from the
route's dependencies, in one place, so the document stays true as routes change:

- `components.securitySchemes`: `bearerAuth` (HTTP bearer, the token of `POST /auth/token`)
  and `sessionCookie` (the HttpOnly cookie `heitje_session` set at login), the two ways
  `api.deps.get_current_user` accepts; every operation that depends on it lists both as
  alternatives in `security` and answers 401 (`unauthorized`) and 403 (`forbidden`: a role it
  lacks, or a cookie request without its CSRF proof); operations that only look at an optional
  caller (`get_optional_user`) list anonymous access (`{}`) as a third alternative.
- Every operation with a request body answers 400 (`invalid_request`: a body that cannot be
  parsed; `json_not_utf8`), 413 (`body_too_large`) and 422 (`invalid_request`,
  `json_too_deep`, ...), all from `api.limits` and `api.errors`; every operation with
  parameters (the `X-Heitje-Time` header included) answers 422.
- Every refusal (4xx, and 503 where a route declares it) has the body `ErrorPublic`
  (`{"code", "message"}`), 422 included, replacing FastAPI's `HTTPValidationError`, which
  this service never sends (`api.errors` turns validation errors into `invalid_request`).

Statuses particular to a route (404, 409, 429, 503, ...) are declared on the route with
`responses=`; this module only adds the ones every such route shares.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from api.deps import get_current_user, get_optional_user
from domain.security import SESSION_COOKIE

BEARER = "bearerAuth"
COOKIE = "sessionCookie"

SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <access_token>` with the token of "
        "`POST /auth/token`.",
    },
    COOKIE: {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The HttpOnly session cookie set by `POST /auth/token` and the login "
        "page; unsafe methods also need the CSRF proof (docs/api.md).",
    },
}

_ERROR_REF = {"$ref": "#/components/schemas/ErrorPublic"}
_DESCRIPTIONS = {
    400: "The body cannot be parsed (`invalid_request`, or `json_not_utf8`: not UTF-8).",
    401: "Not logged in, or the session has ended (`unauthorized`).",
    403: "The caller may not do this (`forbidden` and the route's own codes).",
    404: "Not found.",
    409: "Conflicts with the current state.",
    413: "Request body larger than HEITJE_MAX_BODY_BYTES (`body_too_large`).",
    422: "Invalid input (`invalid_request`, `json_too_deep` and the route's own codes).",
    429: "Too many attempts: retry after `Retry-After` seconds.",
    503: "The chain or the mirror cannot answer now: retry.",
}


def _calls(dependant: Dependant) -> Iterator[object]:
    """Every dependency callable of `dependant`, depth first."""
    for dep in dependant.dependencies:
        if dep.call is not None:
            yield dep.call
        yield from _calls(dep)


def _has_params(dependant: Dependant) -> bool:
    """True when `dependant` or one of its dependencies reads a path, query, header or cookie
    parameter (all validated: 422 when invalid)."""
    own = (
        dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
    )
    return bool(own) or any(_has_params(d) for d in dependant.dependencies)


def _error_response(status: int) -> dict[str, Any]:
    return {
        "description": _DESCRIPTIONS.get(status, "Refused."),
        "content": {"application/json": {"schema": dict(_ERROR_REF)}},
    }


def document(app: FastAPI, schema: dict[str, Any]) -> dict[str, Any]:
    """Add security schemes and shared refusals to FastAPI's `schema` of `app` (in place)."""
    components = schema.setdefault("components", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    # Included routers appear as route contexts (prefix and router dependencies applied).
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        path_item = schema.get("paths", {}).get(route.path_format or "", {})
        calls = set(_calls(route.dependant))
        authenticated = get_current_user in calls
        optional = get_optional_user in calls and not authenticated
        statuses: set[int] = set()
        if authenticated:
            statuses |= {401, 403}
        if route.body_field is not None:
            statuses |= {400, 413, 422}
        if _has_params(route.dependant):
            statuses.add(422)
        for method in route.methods or ():
            op = path_item.get(method.lower())
            if op is None:
                continue
            if authenticated:
                op["security"] = [{BEARER: []}, {COOKIE: []}]
            elif optional:  # anonymous allowed; a caller may see more
                op["security"] = [{}, {BEARER: []}, {COOKIE: []}]
            responses: dict[str, Any] = op.setdefault("responses", {})
            for status in sorted(statuses):
                responses.setdefault(str(status), _error_response(status))
            for key, response in responses.items():
                if key.startswith(("4", "5")) and not _is_specific(response):
                    response["content"] = {"application/json": {"schema": dict(_ERROR_REF)}}
                    if key.isdigit() and int(key) in _DESCRIPTIONS:
                        response["description"] = _DESCRIPTIONS[int(key)]
    schemas = components.get("schemas", {})
    text = repr(schema.get("paths", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas and f"/{unused}'" not in text:
            del schemas[unused]
    return schema


def _is_specific(response: dict[str, Any]) -> bool:
    """True when a route declared a body of its own for a refusal (e.g. `/health`'s 503)."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    return bool(ref) and not ref.endswith(("/ErrorPublic", "/HTTPValidationError"))


def install(app: FastAPI) -> None:
    """Make `app.openapi()` (and `/openapi.json`) return the completed document, built once."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app, base())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
