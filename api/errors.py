"""Every refusal is JSON `{"code": <stable snake_case>, "message": <human>}` with a 4xx status."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from heitje.errors import ChainError, HeitjeError


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the `{code, message}` shape."""

    @app.exception_handler(HeitjeError)
    async def heitje_error(request: Request, exc: HeitjeError) -> JSONResponse:
        status = exc.http_status
        if isinstance(exc, ChainError) and exc.code in {"tx_timeout", "tx_refused"}:
            status = 503
        return JSONResponse({"code": exc.code, "message": exc.message}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        return JSONResponse({"code": "invalid_request", "message": message}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
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
