"""Every refusal is JSON `{"code": <stable snake_case>, "message": <human>}` with a 4xx status.

What is not a refusal answers JSON as well, never a plain-text page or a traceback: a custodial
key that the key-encryption key cannot open (tampered ciphertext) and that `domain.keyring`
did not already name is 503 `custodial_key_unreadable` as there, anything unforeseen 500
`internal_error`; both are logged with their traceback on the server only.
"""

from __future__ import annotations

import logging

from cryptography.exceptions import InvalidTag
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from heitje.errors import ChainError, HeitjeError, Throttled

log = logging.getLogger("heitje.api")


def node_unreachable(exc: BaseException) -> bool:
    """True when `exc`, or an error that caused it, is the node not answering: a connection
    error or time-out of the HTTP JSON-RPC client (requests, as web3 uses it), never a fault
    of our own such as a local file error."""
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import Timeout

    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, RequestsConnectionError | Timeout):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the `{code, message}` shape."""

    @app.exception_handler(HeitjeError)
    async def heitje_error(request: Request, exc: HeitjeError) -> JSONResponse:
        status = exc.http_status
        if isinstance(exc, ChainError) and exc.code in {"tx_timeout", "tx_refused"}:
            status = 503
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Throttled) else None
        return JSONResponse(
            {"code": exc.code, "message": exc.message}, status_code=status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        return JSONResponse({"code": "invalid_request", "message": message}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            400: "invalid_request",  # FastAPI: a body it cannot parse
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
        }.get(exc.status_code, "http_error")
        return JSONResponse(
            {"code": code, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(InvalidTag)
    async def key_unreadable(request: Request, exc: InvalidTag) -> JSONResponse:
        # AES-GCM refused a stored custodial key: tampered, or sealed under another KEK.
        log.error(
            "custodial key cannot be decrypted (%s %s)",
            request.method,
            request.url.path,
            exc_info=exc,
        )
        return JSONResponse(
            {
                "code": "custodial_key_unreadable",
                "message": "this account's stored key cannot be decrypted; "
                "an administrator has to look into it",
            },
            status_code=503,
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        if node_unreachable(exc):  # the node went away mid-request (killed, restarting)
            log.warning(
                "%s %s: the chain did not answer (%r)", request.method, request.url.path, exc
            )
            return JSONResponse(
                {"code": "chain_unavailable", "message": "the chain is not reachable; retry"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        # Starlette's ServerErrorMiddleware answers with this, then logs the traceback.
        return JSONResponse(
            {"code": "internal_error", "message": "internal error; it has been logged"},
            status_code=500,
        )
