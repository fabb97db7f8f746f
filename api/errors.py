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
        # Starlette's ServerErrorMiddleware answers with this, then logs the traceback.
        return JSONResponse(
            {"code": "internal_error", "message": "internal error; it has been logged"},
            status_code=500,
        )
